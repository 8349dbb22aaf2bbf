"""How the service runs as processes: what starting it imports, and --workers.
Before: `recloop serve` imported scipy (and torch through the CLI) and took 19 s to start;
`--workers 2` died (the second worker was refused the store)."""

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def _python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout


def test_serving_a_numpy_policy_imports_no_torch_scipy_or_ray(tmp_path):
    out = _python(
        "import sys, recloop.apps.cli\n"
        "from fastapi.testclient import TestClient\n"
        "from recloop.serve.app import create_app\n"
        "from recloop.serve.config import ServeConfig\n"
        f"cfg = ServeConfig(db='sqlite:///{tmp_path / 's.db'}', insecure_admin=True, n_features=2)\n"
        "with TestClient(create_app(cfg)) as c:\n"
        "    r = c.post('/v1/rank', json={'context': [1, 0], 'candidates': [{'id': 'a'}]})\n"
        "    assert r.status_code == 200, r.text\n"
        "    c.post(f\"/v1/events/{r.json()['event_id']}/reward\", json={'value': 1})\n"
        "    assert c.get('/readyz').status_code == 200\n"
        "print(sorted(m for m in ('torch', 'scipy', 'ray', 'pandas') if m in sys.modules))\n")
    assert out.strip() == "[]"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "recloop.apps", *args], capture_output=True, text=True)


def test_workers_are_ranker_processes(tmp_path):
    r = _cli("serve", "--workers", "2", "--db", f"sqlite:///{tmp_path / 's.db'}")
    assert r.returncode == 2 and "--workers N > 1 runs ranker processes: use it with --role ranker" in r.stderr
    r = _cli("serve", "--role", "ranker", "--workers", "2", "--db", f"sqlite:///{tmp_path / 's.db'}")
    assert r.returncode == 2 and "needs a PostgreSQL store" in r.stderr


def _workers(pid: int) -> list[int]:
    """The worker processes uvicorn started for ``pid`` (children running spawn_main)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text(errors="replace")]


@pytest.mark.slow
def test_two_ranker_workers_on_one_port_serve_beside_the_learner(db, tmp_path):
    url, schema = db
    if url.startswith("sqlite"):
        pytest.skip("ranker workers need PostgreSQL")
    from recloop.apps.crash import _server_cmd, _Server
    from recloop.serve.runner import free_port

    extra = ["--lease", "1", "--model-refresh", "0.2", "--db-schema", schema]
    lport, rport = free_port(), free_port()
    learner = _Server(_server_cmd(url, lport, 4) + ["--role", "learner"] + extra, lport, tmp_path / "learner.log")
    rankers = _Server(_server_cmd(url, rport, 4) + ["--role", "ranker", "--workers", "2"] + extra, rport,
                      tmp_path / "rankers.log")
    learner.start()
    try:
        rankers.start()
        assert rankers.proc is not None
        end = time.monotonic() + 60
        while len(_workers(rankers.proc.pid)) < 2:  # both started, neither refused
            assert time.monotonic() < end, (tmp_path / "rankers.log").read_text()
            time.sleep(0.1)
        with httpx.Client(base_url=f"http://127.0.0.1:{rport}", timeout=30) as c:
            for i in range(40):
                r = c.post("/v1/rank", json={"context": [0.1 * i, 1, 0, 0], "candidates": [{"id": "a"}, {"id": "b"}]})
                assert r.status_code == 200, r.text
                assert c.post(f"/v1/events/{r.json()['event_id']}/reward", json={"value": 1.0}).status_code == 204
        end = time.monotonic() + 30
        while httpx.get(f"http://127.0.0.1:{lport}/healthz").json()["watermark"] < 40:
            assert time.monotonic() < end, "the learner did not learn the 40 rewards"
            time.sleep(0.1)
        assert len(_workers(rankers.proc.pid)) == 2  # still both alive
        assert "Traceback" not in (tmp_path / "rankers.log").read_text()
    finally:
        rankers.stop()
        learner.stop()
