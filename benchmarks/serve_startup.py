"""Start-up time of `recloop serve`: process start -> /readyz answers 200 (SQLite, LinUCB).

Every crash recovery waits for this. Also reports which heavy modules the service
process imported (torch, scipy, ray, pyarrow must not be among them for a bandit).

    .venv/bin/python benchmarks/serve_startup.py --repeats 5

Writes benchmarks/results/serve_startup.json (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def once(workdir: Path) -> tuple[float, float]:
    import httpx

    from recloop.serve.runner import free_port
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "recloop.apps", "serve", "--db", f"sqlite:///{workdir / 's.db'}",
                             "--port", str(port), "--log-level", "error"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    # CPU seconds too: on a shared machine they say what an idle one would take
                    return time.perf_counter() - t0, _cpu_s(proc.pid)
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise RuntimeError("the service exited")
            time.sleep(0.01)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def heavy_imports() -> list[str]:
    code = ("import sys; import recloop.apps.cli; from recloop.serve.app import create_app; "
            "from recloop.serve.config import ServeConfig; import uvicorn; "
            "create_app(ServeConfig(db='sqlite:///:memory:')); "
            "print([m for m in ('torch', 'scipy', 'ray', 'pyarrow', 'matplotlib') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    return json.loads(out.stdout.strip().splitlines()[-1].replace("'", '"'))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default="serve_startup.json")
    args = ap.parse_args()
    load0 = os.getloadavg()
    times = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as d:
            times.append(once(Path(d)))  # a fresh store each time: v0 is written too
    wall, cpu = [t for t, _ in times], [c for _, c in times]
    result = {"benchmark": "serve_startup", "command": " ".join(["benchmarks/serve_startup.py", *sys.argv[1:]]),
              "machine": f"{os.cpu_count()} cores, shared with other engineers' jobs",
              "load_avg_before": [round(v, 2) for v in load0], "load_avg_after": [round(v, 2) for v in os.getloadavg()],
              "seconds_to_ready": [round(t, 2) for t in wall], "median_s": round(float(np.median(wall)), 2),
              "cpu_seconds_to_ready": [round(c, 2) for c in cpu], "median_cpu_s": round(float(np.median(cpu)), 2),
              "heavy_modules_imported": heavy_imports()}
    print(json.dumps(result, indent=2))
    (ROOT / "benchmarks" / "results" / args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
