"""Serving load benchmark: rank then reward per event, from a second process on loopback.

The service (``recloop serve``, LinUCB, 20 candidates x 16 features) runs as one
process; the load comes from another: ``recloop.serve.traffic.HttpConnection``
(keep-alive HTTP/1.1 over asyncio streams, request bodies built before the clock starts, so the
client spends its CPU on sending, not on JSON). Open loop: events start at a fixed
rate whatever the latency, so a slow server shows up as latency and backlog, not as
a politely slower client.

For each store (SQLite file, PostgreSQL) and each target rate it reports sustained
requests/s, p50/p99 latency of rank and reward, lost events (acknowledged but not
in the store, or not acknowledged at all) and the learning lag p99 (reward received
-> model updated, measured in the service).

    .venv/bin/python benchmarks/serve_load.py                 # default grid
    .venv/bin/python benchmarks/serve_load.py --rates 500 1000 --seconds 10 --stores sqlite
    .venv/bin/python benchmarks/serve_load.py --crash 10      # the 10-kill fault drill

Writes benchmarks/results/serve_load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

PG_URL = os.environ.get("RECLOOP_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
N_CANDIDATES, N_FEATURES = 20, 16


# ---------------------------------------------------------------- the load client (second process)
def client_main(port: int, rate: float, seconds: float, connections: int, seed: int, out: str) -> None:
    from recloop.core.registry import make
    from recloop.serve.traffic import HttpConnection

    world = make("env", "contextual", n_arms=N_CANDIDATES, n_features=N_FEATURES, world_seed=0)
    n = int(rate * seconds)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES))
    P = 1.0 / (1.0 + np.exp(-(world.scale * X @ world.item_features.T + world.bias)))
    U = rng.random(n)
    cands = [{"id": f"item-{k}", "features": world.item_features[k].round(6).tolist()} for k in range(N_CANDIDATES)]
    cand_json = json.dumps(cands)
    bodies = [f'{{"context": {json.dumps(X[i].round(6).tolist())}, "candidates": {cand_json}}}'.encode()
              for i in range(n)]
    rank_lat, reward_lat, clicks = np.full(n, np.nan), np.full(n, np.nan), np.zeros(n)
    errors: dict[str, int] = {}
    acked = {"decisions": 0, "rewards": 0}

    async def run() -> float:
        pool: asyncio.Queue = asyncio.Queue()
        for _ in range(connections):
            pool.put_nowait(HttpConnection("127.0.0.1", port, {}))

        async def event(i: int) -> None:
            conn = await pool.get()
            try:
                t0 = time.perf_counter()
                status, body = await conn.post("/v1/rank", bodies[i])
                rank_lat[i] = time.perf_counter() - t0
                if status != 200:
                    errors[f"rank {status}"] = errors.get(f"rank {status}", 0) + 1
                    return
                acked["decisions"] += 1
                d = json.loads(body)
                k = int(d["chosen_id"][5:])
                clicks[i] = float(U[i] < P[i, k])
                t0 = time.perf_counter()
                status, _ = await conn.post(f"/v1/events/{d['event_id']}/reward", b'{"value": %d}' % int(clicks[i]))
                reward_lat[i] = time.perf_counter() - t0
                if status != 204:
                    errors[f"reward {status}"] = errors.get(f"reward {status}", 0) + 1
                    return
                acked["rewards"] += 1
            except (OSError, asyncio.IncompleteReadError) as err:  # the connection reopens on next use
                errors[type(err).__name__] = errors.get(type(err).__name__, 0) + 1
            finally:
                pool.put_nowait(conn)

        start = time.perf_counter()
        tasks = []
        for i in range(n):  # open loop: event i starts at start + i / rate
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(event(i)))
        await asyncio.gather(*tasks)
        return time.perf_counter() - start

    elapsed = asyncio.run(run())
    Path(out).write_text(json.dumps({
        "events": n, "elapsed_s": elapsed, "rank_latency": rank_lat.tolist(), "reward_latency": reward_lat.tolist(),
        "clicks": clicks.tolist(), "errors": errors, "acked": acked}))


# ---------------------------------------------------------------- the driver
def _start_server(db: str, schema: str | None, port: int, workdir: Path, extra: list[str]) -> subprocess.Popen:
    import httpx
    cmd = [sys.executable, "-m", "recloop.serve", "serve", "--policy", "linucb", "--n-features", str(N_FEATURES),
           "--db", db, "--port", str(port), "--snapshot-dir", str(workdir / "models"), "--snapshot-every", "30",
           "--log-level", "error", *extra]
    if schema:
        cmd += ["--db-schema", schema]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("RECLOOP_API_KEY", None)
    proc = subprocess.Popen(cmd, env=env, stdout=open(workdir / "server.log", "ab"), stderr=subprocess.STDOUT)
    end = time.monotonic() + 60
    while time.monotonic() < end:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not start; see {workdir / 'server.log'}")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_one(store: str, rate: float, seconds: float, connections: int, extra: list[str]) -> dict:
    import httpx

    from recloop.serve.runner import free_port
    from recloop.serve.store import Store

    workdir = Path(tempfile.mkdtemp(prefix=f"serve-load-{store}-"))
    schema = None
    if store == "sqlite":
        db = f"sqlite:///{workdir / 'bench.db'}"
    else:
        db, schema = PG_URL, f"bench_{os.getpid()}_{int(time.time())}"
    port = free_port()
    proc = _start_server(db, schema, port, workdir, extra)
    out = workdir / "client.json"
    cpu0 = _cpu_seconds(proc.pid)
    try:
        subprocess.run([sys.executable, __file__, "--_client", str(port), str(rate), str(seconds), str(connections),
                        str(out)], check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        url = f"http://127.0.0.1:{port}"
        end = time.monotonic() + 30
        while httpx.get(f"{url}/healthz").json()["pending"] and time.monotonic() < end:
            time.sleep(0.1)
        cpu = _cpu_seconds(proc.pid) - cpu0
        stats = httpx.get(f"{url}/v1/stats").json()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    c = json.loads(out.read_text())
    s = Store(db, schema=schema)
    counts = s.counts()
    if schema:
        s.drop()
    s.close()
    rank, reward = np.array(c["rank_latency"]), np.array(c["reward_latency"])
    rank, reward = rank[~np.isnan(rank)], reward[~np.isnan(reward)]
    n = c["events"]
    clicks = np.array(c["clicks"])
    q = lambda a, p: round(float(np.quantile(a, p)) * 1e3, 2) if len(a) else None  # noqa: E731
    return {
        "store": store, "target_events_per_s": rate, "seconds": seconds, "connections": connections,
        "events": n, "elapsed_s": round(c["elapsed_s"], 2),
        "sustained_requests_per_s": round((len(rank) + len(reward)) / c["elapsed_s"], 1),
        # the open-loop schedule could not be kept: the service (or the machine) was saturated
        "saturated": c["elapsed_s"] > 1.1 * seconds,
        "rank_p50_ms": q(rank, 0.5), "rank_p99_ms": q(rank, 0.99),
        "reward_p50_ms": q(reward, 0.5), "reward_p99_ms": q(reward, 0.99),
        "errors": c["errors"], "acked": c["acked"], "stored": counts,
        "lost_events": (n - c["acked"]["rewards"]) + max(0, c["acked"]["rewards"] - counts["rewards"]),
        "learning_lag_p99_s": stats["learning_lag_s"]["p99"],
        # CPU the service spent per request (user + system, all its threads): what decides
        # capacity on an idle machine, and much less disturbed by other jobs than latency.
        "server_cpu_ms_per_request": round(cpu * 1e3 / max(1, len(rank) + len(reward)), 3),
        "ctr_first_10pct": round(float(clicks[: n // 10].mean()), 3),
        "ctr_last_10pct": round(float(clicks[-(n // 10):].mean()), 3),
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--_client":
        port, rate, seconds, conns, out = sys.argv[2:7]
        client_main(int(port), float(rate), float(seconds), int(conns), 0, out)
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stores", nargs="+", default=["sqlite", "postgresql"])
    ap.add_argument("--rates", nargs="+", type=float, default=[250, 500, 1000],
                    help="target events/s (each event = 1 rank + 1 reward request)")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--crash", type=int, default=0, help="run the kill -9 drill with this many kills instead")
    ap.add_argument("--server-arg", action="append", default=[], help="extra `recloop serve` option (repeat)")
    args = ap.parse_args()
    meta = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, shared with other engineers' jobs",
            "load_avg_at_start": os.getloadavg(), "python": platform.python_version()}
    if args.crash:
        from recloop.serve.crash import drill
        r = drill(tempfile.mkdtemp(prefix="serve-crash-"), kills=args.crash, n_features=N_FEATURES)
        result = {"benchmark": "serve_crash", **meta, "kills": r.kills, "acked_decisions": r.acked_decisions,
                  "acked_rewards": r.acked_rewards, "missing_decisions": len(r.missing_decisions),
                  "wrong_decisions": len(r.wrong_decisions), "missing_rewards": len(r.missing_rewards),
                  "stored_decisions": r.stored_decisions, "stored_rewards": r.stored_rewards,
                  "replayed_on_restart": r.replayed_on_restart, "model_equal_to_uninterrupted": r.model_equal,
                  "seconds": round(r.seconds, 1)}
        name = "serve_crash"
    else:
        runs = []
        for store in args.stores:
            for rate in args.rates:
                runs.append(run_one(store, rate, args.seconds, args.connections, args.server_arg))
                print(json.dumps(runs[-1]), file=sys.stderr)
        result = {"benchmark": "serve_load", **meta, "policy": "linucb", "candidates": N_CANDIDATES,
                  "features": N_FEATURES, "server_args": args.server_arg, "runs": runs}
        name = "serve_load"
    print(json.dumps(result, indent=2))
    out = ROOT / "benchmarks" / "results" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
