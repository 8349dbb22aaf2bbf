"""Serving load benchmark: rank then reward per event, from a second process on loopback.

The service (``recloop serve``, LinUCB, 20 candidates x 16 features) runs as one
process; the load comes from another, open loop (event i starts at i / rate
whatever the latency, so a slow server shows up as latency and backlog):

- ``--client wrk`` (the default when the Debian package ``wrk`` is installed):
  wrk with ``benchmarks/serve_load.lua``, one connection per wrk thread. Each rank
  carries a client-chosen ``event_id``, so the reward goes to a known URL; the
  script times every request itself, rank and reward apart. C code sends and
  parses, so on a 2-core machine the client leaves the cores to the service.
- ``--client python``: our asyncio client (uvloop when installed) on raw
  keep-alive connections, bodies built before the clock starts. It works
  everywhere but costs the shared cores several times wrk's CPU.

For each store (SQLite file, PostgreSQL) and each target rate it reports sustained
requests/s, p50/p99 latency of rank and reward, lost events (acknowledged but not
in the store, or not acknowledged at all), the learning lag p99 (reward received
-> model updated, measured in the service), CPU per request of service and client,
and the load average around each run.

    .venv/bin/python benchmarks/serve_load.py                 # default grid
    .venv/bin/python benchmarks/serve_load.py --rates 500 1000 --seconds 15 --stores sqlite postgresql
    .venv/bin/python benchmarks/serve_load.py --stores sqlite --rates 1000 --seconds 15 --repeat 3 --client wrk python
                                                              # the p99 goal: three runs in a row per client
    .venv/bin/python benchmarks/serve_load.py --crash 10      # the 10-kill fault drill

``--rates`` are events/s: 1000 events/s = 1,000 rank + 1,000 reward requests/s.
``worst_of_repeats`` in the JSON gives, per client, store and rate, every run's rank p99
and the worst: a latency goal holds only if it held in every run.
Writes benchmarks/results/serve_load.json (or ``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
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


# ---------------------------------------------------------------- the workload (same for both clients)
def workload(rate: float, seconds: float, seed: int = 0):
    """Events: context vectors, the candidates JSON, and for every event and item whether
    the simulated user clicks it (``U < P``: drawn before the run, so the service's
    choices decide the clicks and the CTR can climb)."""
    from recloop.core.registry import make

    world = make("env", "contextual", n_arms=N_CANDIDATES, n_features=N_FEATURES, world_seed=0)
    n = int(rate * seconds)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES)).round(6)
    P = 1.0 / (1.0 + np.exp(-(world.scale * X @ world.item_features.T + world.bias)))
    clicks = (rng.random(n)[:, None] < P).astype(np.int8)  # (event, item)
    cands = [{"id": f"item-{k}", "features": world.item_features[k].round(6).tolist()} for k in range(N_CANDIDATES)]
    return X, clicks, json.dumps(cands, separators=(",", ":"))


# ---------------------------------------------------------------- the Python load client (second process)
def client_main(port: int, rate: float, seconds: float, connections: int, seed: int, out: str) -> None:
    """asyncio (uvloop when installed) over raw keep-alive connections. Rank bodies are
    built before the clock starts and carry client-chosen event ids, so the client never
    parses JSON: the chosen item is found by a byte search."""
    from recloop.apps.traffic import HttpConnection, run_timed

    X, click_table, cand_json = workload(rate, seconds, seed)
    n = len(X)
    bodies = [(f'{{"event_id":"p{i}","context":{json.dumps(X[i].tolist(), separators=(",", ":"))},'
               f'"candidates":{cand_json}}}').encode() for i in range(n)]
    paths = [f"/v1/events/p{i}/reward" for i in range(n)]
    rank_lat, reward_lat, clicks = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    errors: dict[str, int] = {}
    acked = {"decisions": 0, "rewards": 0}
    marker = b'"chosen_id"'

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
                at = body.index(b'"item-', body.index(marker)) + 6
                k = int(body[at:body.index(b'"', at)])
                clicks[i] = click_table[i, k]
                t0 = time.perf_counter()
                status, _ = await conn.post(paths[i], b'{"value":%d}' % click_table[i, k])
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

    cpu0 = time.process_time()
    elapsed = run_timed(run)
    cpu = time.process_time() - cpu0  # the run only, not start-up and body building
    Path(out).write_text(json.dumps({"cpu_s": cpu,
        "events": n, "elapsed_s": elapsed, "rank_latency": rank_lat.tolist(), "reward_latency": reward_lat.tolist(),
        "clicks": clicks.tolist(), "errors": errors, "acked": acked}))


# ---------------------------------------------------------------- the wrk load client
def run_wrk(port: int, rate: float, seconds: float, connections: int, workdir: Path, out: Path) -> subprocess.Popen:
    """``wrk`` with benchmarks/serve_load.lua: one connection per wrk thread; C code sends
    and parses, so the client takes a few percent of a core, not a quarter."""
    X, click_table, cand_json = workload(rate, seconds)
    n = len(X)
    threads = min(connections, n)
    for t in range(threads):  # thread t plays events t, t + threads, t + 2 threads, ...
        with open(workdir / f"events-{t}", "w") as fh:
            for i in range(t, n, threads):
                fh.write(json.dumps(X[i].tolist(), separators=(",", ":")) + "\t"
                         + "".join(map(str, click_table[i])) + "\n")
    (workdir / "cands.json").write_text(cand_json)
    env = {**os.environ, "RL_EVENTS": str(workdir / "events-"), "RL_CANDS": str(workdir / "cands.json"),
           "RL_RATE": str(rate), "RL_THREADS": str(threads), "RL_OUT": str(workdir / "wrk.json")}
    budget = int(seconds * 1.5) + 3  # wrk runs this long whatever; a thread stops after its last event
    cmd = ["wrk", "-t", str(threads), "-c", str(threads), "-d", f"{budget}s", "--timeout", "10s",
           "-s", str(ROOT / "benchmarks" / "serve_load.lua"), f"http://127.0.0.1:{port}"]
    subprocess.run(cmd, check=True, env=env, stdout=open(workdir / "wrk.log", "w"), stderr=subprocess.STDOUT)
    w = json.loads((workdir / "wrk.json").read_text())
    rank_lat, reward_lat, clicks = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    for t in w["threads"]:  # thread t played events t, t + threads, t + 2 threads, ...
        idx = np.arange(t["tid"], n, threads)[:len(t["rank"])]
        for name, arr in (("rank", rank_lat), ("reward", reward_lat), ("clicks", clicks)):
            arr[idx] = np.array([np.nan if v is None else v for v in t[name]], dtype=float)
    out.write_text(json.dumps({
        "events": n, "elapsed_s": w["elapsed_s"], "rank_latency": rank_lat.tolist(),
        "reward_latency": reward_lat.tolist(), "clicks": clicks.tolist(), "errors": w["errors"], "acked": w["acked"],
        "threads": threads}))


# ---------------------------------------------------------------- the driver
def _start_server(db: str, schema: str | None, port: int, workdir: Path, extra: list[str]) -> subprocess.Popen:
    import httpx
    cmd = [sys.executable, "-m", "recloop.apps", "serve", "--policy", "linucb", "--n-features", str(N_FEATURES),
           "--db", db, "--port", str(port), "--snapshot-every", "30",
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


def _children_cpu() -> float:
    import resource
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _cpu_seconds(pid: int, thread: int | None = None) -> np.ndarray:
    """(user, system) CPU seconds of a process, all its threads (or only ``thread``'s)."""
    where = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    return _stat_cpu(Path(where).read_text())


def _stat_cpu(stat: str) -> np.ndarray:
    """(user, system) CPU seconds from the text of a /proc stat file."""
    fields = stat.rsplit(")", 1)[1].split()
    return np.array([int(fields[11]), int(fields[12])]) / os.sysconf("SC_CLK_TCK")


def python_loop_ms(n: int = 2_000_000, repeat: int = 3) -> float:
    """Milliseconds one core takes for a fixed pure-Python loop (best of ``repeat``): how
    fast this machine runs the interpreter right now. The serving figures are CPU-bound
    Python, so they can only be set side by side with this (the same VM type has been
    seen 2x slower at one moment than at another)."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        total = 0
        for i in range(n):
            total += i & 7
        best = min(best, time.perf_counter() - t)
    return round(best * 1e3, 1)


def machine_noise(seconds: float = 2.0) -> dict:
    """What this machine does to a latency tail with nothing of ours running: how late a
    1 ms sleep wakes (scheduler and hypervisor hiccups), and how long a 4 KB write +
    fdatasync takes on the disk the stores use (each group commit waits for one). A rank
    p99 of 10 ms cannot be kept where these alone reach several ms."""
    late, sync = [], []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        time.sleep(0.001)
        late.append(time.perf_counter() - t - 0.001)
    fd, path = tempfile.mkstemp(prefix="recloop-fsync-")
    try:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t = time.perf_counter()
            os.write(fd, b"x" * 4096)
            os.fdatasync(fd)
            sync.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        os.unlink(path)
    ms = lambda a, p: round(float(np.quantile(a, p)) * 1e3, 2)  # noqa: E731
    return {"seconds": seconds, "sleep_1ms_late_p99_ms": ms(late, 0.99), "sleep_1ms_late_max_ms": ms(late, 1.0),
            "fdatasync_p50_ms": ms(sync, 0.5), "fdatasync_p99_ms": ms(sync, 0.99), "fdatasync_max_ms": ms(sync, 1.0)}


def cpu_times() -> np.ndarray:
    """The machine's CPU time so far, all cores, from /proc/stat: user, nice, system,
    idle, iowait, irq, softirq, steal (clock ticks)."""
    with open("/proc/stat") as fh:
        return np.array(fh.readline().split()[1:9], dtype=np.int64)


def cpu_shares(before: np.ndarray, after: np.ndarray) -> dict:
    """Shares of all cores' time between two :func:`cpu_times`: idle (left over), and
    steal (taken by the hypervisor for other machines: time our processes were runnable
    but not running)."""
    d = after - before
    total = max(1, int(d.sum()))
    return {"idle": round(d[3] / total, 3), "iowait": round(d[4] / total, 3), "steal": round(d[7] / total, 3)}


def postgres_cpu() -> float:
    """CPU seconds (user + system) of every PostgreSQL server process on this machine:
    what the store costs beside the service. Other users of the server count too, so
    read it on an otherwise idle server."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone
            continue
        if text[text.index("(") + 1:text.rindex(")")] == "postgres":
            total += float(_stat_cpu(text).sum())
    return total


def run_one(store: str, rate: float, seconds: float, connections: int, extra: list[str], client: str) -> dict:
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
    cpu0, pg0, machine0 = _cpu_seconds(proc.pid), postgres_cpu(), cpu_times()
    load0 = os.getloadavg()
    child0 = _children_cpu()
    try:
        if client == "wrk":
            run_wrk(port, rate, seconds, connections, workdir, out)
        else:
            subprocess.run([sys.executable, __file__, "--_client", str(port), str(rate), str(seconds),
                            str(connections), str(out)],
                           check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        client_cpu = _children_cpu() - child0
        load1, shares = os.getloadavg(), cpu_shares(machine0, cpu_times())
        url = f"http://127.0.0.1:{port}"
        end = time.monotonic() + 30
        while httpx.get(f"{url}/healthz").json()["pending"] and time.monotonic() < end:
            time.sleep(0.1)
        cpu, pg_cpu = _cpu_seconds(proc.pid) - cpu0, postgres_cpu() - pg0
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
    rank, reward = np.array(c["rank_latency"], dtype=float), np.array(c["reward_latency"], dtype=float)
    rank, reward = rank[~np.isnan(rank)], reward[~np.isnan(reward)]
    n = c["events"]
    clicks = np.array(c["clicks"], dtype=float)
    q = lambda a, p: round(float(np.quantile(a, p)) * 1e3, 2) if len(a) else None  # noqa: E731
    return {
        "store": store, "client": client, "target_events_per_s": rate,
        "target_requests_per_s": 2 * rate, "seconds": seconds, "connections": connections,
        "events": n, "elapsed_s": round(c["elapsed_s"], 2),
        "sustained_requests_per_s": round((len(rank) + len(reward)) / c["elapsed_s"], 1),
        # the open-loop schedule could not be kept: the service (or the machine) was saturated
        "saturated": c["elapsed_s"] > 1.1 * seconds,
        "rank_p50_ms": q(rank, 0.5), "rank_p99_ms": q(rank, 0.99),
        "reward_p50_ms": q(reward, 0.5), "reward_p99_ms": q(reward, 0.99),
        "errors": c["errors"], "acked": c["acked"], "stored": counts,
        "lost_events": (n - c["acked"]["rewards"]) + max(0, c["acked"]["rewards"] - counts["rewards"])
                       + max(0, c["acked"]["decisions"] - counts["decisions"]),
        "learning_lag_p99_s": stats["learning_lag_s"]["p99"],
        # CPU the service spent per request (user + system, all its threads): what decides
        # capacity on an idle machine, and much less disturbed by other jobs than latency.
        "server_cpu_ms_per_request": round(cpu.sum() * 1e3 / max(1, len(rank) + len(reward)), 3),
        "server_user_sys_ms_per_request": [round(v * 1e3 / max(1, len(rank) + len(reward)), 3) for v in cpu],
        # PostgreSQL's server processes (0 for SQLite: its work is in the service's CPU)
        "postgres_cpu_ms_per_request": round(pg_cpu * 1e3 / max(1, len(rank) + len(reward)), 3),
        # the load client's CPU (it shares the cores): wrk's is the small one
        "client_cpu_ms_per_request": round(c.get("cpu_s", client_cpu) * 1e3 / max(1, len(rank) + len(reward)), 3),
        "load_avg_before": [round(v, 2) for v in load0], "load_avg_after": [round(v, 2) for v in load1],
        "machine_cpu_shares": shares,
        "ctr_first_10pct": round(float(np.nanmean(clicks[: n // 10])), 3),
        "ctr_last_10pct": round(float(np.nanmean(clicks[-(n // 10):])), 3),
    }


def worst_of_repeats(runs: list[dict]) -> list[dict]:
    """Per client, store and rate: the worst rank p99 of its runs in a row, and whether any
    of them lost an event or could not keep the schedule (a goal holds only if it held in
    every run)."""
    points: dict[tuple, list[dict]] = {}
    for r in runs:
        points.setdefault((r["client"], r["store"], r["target_events_per_s"]), []).append(r)
    return [{"client": c, "store": s, "target_events_per_s": rate, "runs": len(rs),
             "rank_p99_ms": [r["rank_p99_ms"] for r in rs],
             "worst_rank_p99_ms": max((r["rank_p99_ms"] for r in rs if r["rank_p99_ms"] is not None), default=None),
             "lost_events": sum(r["lost_events"] for r in rs), "any_saturated": any(r["saturated"] for r in rs)}
            for (c, s, rate), rs in points.items()]


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
    ap.add_argument("--client", nargs="+", choices=["auto", "wrk", "python"], default=["auto"],
                    help="load generator(s): wrk (Debian package `wrk`; cheapest on a shared machine) and/or "
                         "our asyncio client; auto takes wrk when it is installed")
    ap.add_argument("--repeat", type=int, default=1, help="runs in a row of every client x store x rate")
    ap.add_argument("--out", default=None, help="result file name in benchmarks/results/ (default: by benchmark)")
    args = ap.parse_args()
    clients = []
    for client in args.client:
        if client == "auto":
            client = "wrk" if shutil.which("wrk") else "python"
            if client == "python":
                print("wrk not found (apt-get install wrk): using the asyncio client, which shares the "
                      "cores with the service", file=sys.stderr)
        elif client == "wrk" and not shutil.which("wrk"):
            ap.error("--client wrk: the wrk binary is not on PATH (apt-get install wrk)")
        clients.append(client)
    meta = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, shared with other engineers' jobs",
            "load_avg_at_start": os.getloadavg(), "python": platform.python_version(),
            "python_loop_ms_at_start": python_loop_ms(), "machine_noise_at_start": machine_noise()}
    if args.crash:
        from recloop.apps.crash import drill
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
        for client in clients:
            for store in args.stores:
                for rate in args.rates:
                    for k in range(args.repeat):
                        runs.append({**run_one(store, rate, args.seconds, args.connections, args.server_arg, client),
                                     "repeat": k + 1})
                        print(json.dumps(runs[-1]), file=sys.stderr)
        result = {"benchmark": "serve_load", **meta, "command": " ".join(["benchmarks/serve_load.py", *sys.argv[1:]]),
                  "clients": clients, "policy": "linucb", "candidates": N_CANDIDATES,
                  "features": N_FEATURES, "server_args": args.server_arg, "runs": runs,
                  "worst_of_repeats": worst_of_repeats(runs), "load_avg_at_end": os.getloadavg(),
                  "python_loop_ms_at_end": python_loop_ms(), "machine_noise_at_end": machine_noise()}
        name = "serve_load"
    print(json.dumps(result, indent=2))
    out = ROOT / "benchmarks" / "results" / (args.out or f"{name}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
