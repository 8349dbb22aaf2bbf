"""The store's group commit alone, in-process: what one batch of decisions and rewards costs
the writer thread (CPU and wall) and PostgreSQL (CPU), for each write path, alternated in
one run so that the machine's drift hits every path alike.

    .venv/bin/python benchmarks/store_batch.py                       # PostgreSQL, three paths
    .venv/bin/python benchmarks/store_batch.py --stores sqlite postgresql --repeat 5
    .venv/bin/python benchmarks/store_batch.py --stores sqlite --busy-thread   # with a busy event loop beside

Paths: ``one-statement`` (a single process on PostgreSQL: the whole batch is one statement),
``transactional`` (the same answers from BEGIN, fence, lookup, INSERT, join, INSERT,
COMMIT: the path SQLite and the Personalizer store take) and ``ranker`` (a ranker's batch:
decisions and inbox rewards, one statement). Each batch holds ``--per`` new decisions
(LinUCB-sized: 16 context features, 20 candidates x 16 features) and one reward for each
decision of the batch before. Nothing here talks HTTP: ``serve_load.py`` measures the
service. Writes benchmarks/results/store_batch.json (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from serve_load import PG_URL, machine_noise, postgres_cpu, python_loop_ms  # noqa: E402

PATHS = {"postgresql": ["one-statement", "transactional", "ranker"], "sqlite": ["transactional"]}


def run(store_kind: str, path: str, batches: int, per: int, workdir: Path) -> dict:
    from recloop.serve.records import Decision, RewardIn, pack_features
    from recloop.serve.store import Store

    rng = np.random.default_rng(0)
    feats = rng.normal(size=(20, 16))
    ids = [f"item-{k}" for k in range(20)]
    packed = pack_features(list(feats))
    if store_kind == "sqlite":
        store = Store(f"sqlite:///{workdir / f'{uuid.uuid4().hex}.db'}").create()
    else:
        store = Store(PG_URL, schema=f"bench_batch_{uuid.uuid4().hex[:10]}").create()
    if path == "ranker":
        store.mode = "ranker"
    else:
        store.one_statement_batches = path == "one-statement"
        store.claim_writer(30.0)
    try:
        previous: list[str] = []
        wall = cpu = 0.0
        pg0 = postgres_cpu() if store_kind == "postgresql" else 0.0
        for b in range(batches):
            ds = [Decision(event_id=f"b{b}-{i}", context=rng.normal(size=16).tolist(),
                           candidates=list(zip(ids, list(feats))), items=[ids[i % 20]], scores=[0.5],
                           propensities=[0.9], model_version="v1", request_hash=f"h{b}-{i}", packed=packed)
                  for i in range(per)]
            rs = [RewardIn(e, float(rng.random() < 0.5)) for e in previous]
            t, c = time.perf_counter(), time.thread_time()
            d_out, r_out, _ = store.write_batch(ds, rs)
            wall += time.perf_counter() - t
            cpu += time.thread_time() - c
            assert all(code == "stored" for code, _ in d_out + r_out), (d_out, r_out)
            previous = [d.event_id for d in ds]
        pg = postgres_cpu() - pg0 if store_kind == "postgresql" else None
    finally:
        store.close()
        store.drop()
    per_batch = lambda v: round(v * 1e3 / batches, 3)  # noqa: E731
    return {"store": store_kind, "path": path, "batches": batches, "decisions_per_batch": per,
            "rewards_per_batch": per, "wall_ms_per_batch": per_batch(wall), "writer_cpu_ms_per_batch": per_batch(cpu),
            "postgres_cpu_ms_per_batch": None if pg is None else per_batch(pg)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stores", nargs="+", choices=sorted(PATHS), default=["postgresql"])
    ap.add_argument("--batches", type=int, default=400)
    ap.add_argument("--per", type=int, default=8, help="decisions (and rewards) per batch")
    ap.add_argument("--repeat", type=int, default=3, help="rounds; each round runs every path once, in turn")
    ap.add_argument("--busy-thread", action="store_true",
                    help="a second thread runs Python meanwhile (as a service's event loop does), with the "
                         "service's switch interval (0.1 ms): every statement then waits to take the GIL back")
    ap.add_argument("--switch-interval", type=float, default=0.0001, help="with --busy-thread (seconds)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.busy_thread:
        import threading

        def spin() -> None:
            x = 0
            while True:
                x = (x + 1) & 0xFFFF

        sys.setswitchinterval(args.switch_interval)
        threading.Thread(target=spin, daemon=True).start()
    import tempfile

    workdir = Path(tempfile.mkdtemp(prefix="store-batch-"))
    result: dict = {"benchmark": "store_batch", "command": " ".join(["benchmarks/store_batch.py", *sys.argv[1:]]),
                    "busy_thread": args.busy_thread, "switch_interval_s": sys.getswitchinterval(),
                    "machine": f"{os.cpu_count()} cores, shared with other engineers' jobs",
                    "load_avg_at_start": os.getloadavg(), "python_loop_ms_at_start": python_loop_ms(),
                    "machine_noise_at_start": machine_noise(), "runs": []}
    for _ in range(args.repeat):
        for kind in args.stores:
            for path in PATHS[kind]:
                r = run(kind, path, args.batches, args.per, workdir)
                print(json.dumps(r), file=sys.stderr)
                result["runs"].append(r)
    summary = {}
    for kind in args.stores:
        for path in PATHS[kind]:
            rs = [r for r in result["runs"] if r["store"] == kind and r["path"] == path]
            summary[f"{kind}/{path}"] = {k: [min(r[k] for r in rs), max(r[k] for r in rs)]
                                         for k in ("wall_ms_per_batch", "writer_cpu_ms_per_batch",
                                                   "postgres_cpu_ms_per_batch") if rs[0][k] is not None}
    result["range_over_rounds"] = summary
    if "postgresql" in args.stores:  # each round's one-statement cost over its transactional cost
        one = [r for r in result["runs"] if r["store"] == "postgresql" and r["path"] == "one-statement"]
        tx = [r for r in result["runs"] if r["store"] == "postgresql" and r["path"] == "transactional"]
        result["one_statement_over_transactional_by_round"] = {
            k: [round(a[k] / b[k], 3) for a, b in zip(one, tx)]
            for k in ("wall_ms_per_batch", "writer_cpu_ms_per_batch", "postgres_cpu_ms_per_batch")}
    result["python_loop_ms_at_end"] = python_loop_ms()
    print(json.dumps(result, indent=2))
    out = ROOT / "benchmarks" / "results" / (args.out or "store_batch.json")
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
