"""Scale-out benchmark: one learner + ``--role ranker --workers 2`` against one ``all``
process, on the same PostgreSQL server, the same open-loop workload and client as
``benchmarks/serve_load.py`` (LinUCB, 20 candidates x 16 features; each event = one rank
+ one reward request), in the same run, so the ratio is measured, not assembled.

    .venv/bin/python benchmarks/serve_scale.py --rates 500 1000 --seconds 10
    .venv/bin/python benchmarks/serve_scale.py --rates 500 1000 --seconds 10 --client wrk   # wrk's CPU is smaller
    .venv/bin/python benchmarks/serve_scale.py --idle 10    # what the split layout costs with no traffic
    .venv/bin/python benchmarks/serve_scale.py --crash 20   # kill -9 drill: learner + 2 rankers
    .venv/bin/python benchmarks/serve_scale.py --crash 20 --pg-restart   # ... and one PostgreSQL restart

Reports, per layout and rate: sustained req/s, rank/reward p50/p99, lost events, CPU
per request of all service processes together, and whether the learner learned every
stored reward. Writes benchmarks/results/serve_scale.json (or ``--out``).
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
sys.path.insert(0, str(ROOT / "benchmarks"))

from serve_load import (N_FEATURES, PG_URL, _children_cpu, _cpu_seconds, cpu_shares, cpu_times,  # noqa: E402
                        machine_noise, postgres_cpu, python_loop_ms, run_one, run_wrk)


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn's worker processes)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return out


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for p in pids:
        try:
            total += float(_cpu_seconds(p).sum())
        except OSError:  # gone
            pass
    return total


def _serve(args: list[str], port: int, workdir: Path, name: str) -> subprocess.Popen:
    import httpx
    cmd = [sys.executable, "-m", "recloop.apps", "serve", "--policy", "linucb", "--n-features", str(N_FEATURES),
           "--port", str(port), "--log-level", "error", *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("RECLOOP_API_KEY", None)
    proc = subprocess.Popen(cmd, env=env, stdout=open(workdir / f"{name}.log", "ab"), stderr=subprocess.STDOUT)
    end = time.monotonic() + 90
    while time.monotonic() < end:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{name} did not become ready; see {workdir / name}.log")


def _start_split(rankers: int) -> tuple[Path, str, subprocess.Popen, subprocess.Popen, int, int]:
    """A learner and ``rankers`` ranker workers on a fresh schema of the local PostgreSQL."""
    from recloop.serve.runner import free_port

    workdir = Path(tempfile.mkdtemp(prefix="serve-scale-"))
    schema = f"scale_{os.getpid()}_{int(time.time())}"
    common = ["--db", PG_URL, "--db-schema", schema]
    lport, rport = free_port(), free_port()
    learner = _serve(common + ["--role", "learner", "--snapshot-every", "1"], lport, workdir, "learner")
    ranker = _serve(common + ["--role", "ranker", "--workers", str(rankers), "--model-refresh", "1"], rport,
                    workdir, "ranker")
    time.sleep(1.0)  # every worker is up (readyz answered by one of them)
    return workdir, schema, learner, ranker, lport, rport


def run_idle(seconds: float, rankers: int) -> dict:
    """What the split layout costs with no traffic: share of a core of each part over
    ``seconds`` (the learner's inbox polls, the rankers' model refresh, PostgreSQL)."""
    from recloop.serve.store import Store

    _, schema, learner, ranker, _, _ = _start_split(rankers)
    try:
        time.sleep(2.0)  # past start-up
        workers = _tree(ranker.pid)
        l0, r0, pg0 = _cpu([learner.pid]), _cpu(workers), postgres_cpu()
        time.sleep(seconds)
        share = lambda v: round(v / seconds, 4)  # noqa: E731
        out = {"seconds": seconds, "rankers": rankers, "learner_core_share": share(_cpu([learner.pid]) - l0),
               "rankers_core_share": share(_cpu(workers) - r0), "postgres_core_share": share(postgres_cpu() - pg0)}
    finally:
        for proc in (ranker, learner):
            proc.terminate()
            proc.wait(timeout=60)
        Store(PG_URL, schema=schema).drop()
    return out


def run_scaled(rate: float, seconds: float, connections: int, rankers: int, client: str = "python") -> dict:
    import httpx

    from recloop.serve.store import Store

    workdir, schema, learner, ranker, lport, rport = _start_split(rankers)
    pids = [learner.pid, *_tree(ranker.pid)]
    cpu0, lcpu0, pg0, load0, machine0 = (_cpu(pids), _cpu([learner.pid]), postgres_cpu(), os.getloadavg(),
                                         cpu_times())
    out = workdir / "client.json"
    try:
        child0 = _children_cpu()
        if client == "wrk":
            run_wrk(rport, rate, seconds, connections, workdir, out)
        else:
            subprocess.run([sys.executable, str(ROOT / "benchmarks" / "serve_load.py"), "--_client", str(rport),
                            str(rate), str(seconds), str(connections), str(out)],
                           check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        client_cpu = _children_cpu() - child0
        load1, shares = os.getloadavg(), cpu_shares(machine0, cpu_times())
        s = Store(PG_URL, schema=schema)
        end = time.monotonic() + 60
        while httpx.get(f"http://127.0.0.1:{lport}/healthz").json()["watermark"] < s.counts()["rewards"] \
                or s.counts()["rewards"] < _inbox_count(s):
            if time.monotonic() > end:
                break
            time.sleep(0.2)
        cpu, lcpu, pg_cpu = _cpu(pids) - cpu0, _cpu([learner.pid]) - lcpu0, postgres_cpu() - pg0
        watermark = httpx.get(f"http://127.0.0.1:{lport}/healthz").json()["watermark"]
        counts = s.counts()
    finally:
        for proc in (ranker, learner):
            proc.terminate()
            proc.wait(timeout=60)
    s.drop()
    s.close()
    c = json.loads(out.read_text())
    rank, reward = np.array(c["rank_latency"], dtype=float), np.array(c["reward_latency"], dtype=float)
    rank, reward = rank[~np.isnan(rank)], reward[~np.isnan(reward)]
    n = c["events"]
    q = lambda a, p: round(float(np.quantile(a, p)) * 1e3, 2) if len(a) else None  # noqa: E731
    done = len(rank) + len(reward)
    return {
        "layout": f"learner + {rankers} rankers", "target_events_per_s": rate, "target_requests_per_s": 2 * rate,
        "seconds": seconds, "events": n, "elapsed_s": round(c["elapsed_s"], 2),
        "sustained_requests_per_s": round(done / c["elapsed_s"], 1), "saturated": c["elapsed_s"] > 1.1 * seconds,
        "rank_p50_ms": q(rank, 0.5), "rank_p99_ms": q(rank, 0.99),
        "reward_p50_ms": q(reward, 0.5), "reward_p99_ms": q(reward, 0.99),
        "errors": c["errors"], "acked": c["acked"], "stored": counts, "learned_watermark": watermark,
        "lost_events": (n - c["acked"]["rewards"]) + max(0, c["acked"]["rewards"] - counts["rewards"])
                       + max(0, c["acked"]["decisions"] - counts["decisions"]),
        "server_cpu_ms_per_request": round(cpu * 1e3 / max(1, done), 3),
        # the learner's part, per reward it ordered and learned: where one learner's core runs out
        "learner_cpu_ms_per_reward": round(lcpu * 1e3 / max(1, counts["rewards"]), 3),
        "ranker_cpu_ms_per_request": round((cpu - lcpu) * 1e3 / max(1, done), 3),
        "postgres_cpu_ms_per_request": round(pg_cpu * 1e3 / max(1, done), 3),
        "client": client, "client_cpu_ms_per_request": round(c.get("cpu_s", client_cpu) * 1e3 / max(1, done), 3),
        "load_avg_before": [round(v, 2) for v in load0], "load_avg_after": [round(v, 2) for v in load1],
        "machine_cpu_shares": shares,
    }


def at_p99_bound(runs: list[dict], p99_ms: float) -> dict:
    """Each layout's capacity within the latency bound: the most requests/s it sustained,
    on schedule and losing nothing, with rank p99 <= ``p99_ms``; and their ratio."""
    best: dict[str, float | None] = {}
    for layout in dict.fromkeys(r["layout"] for r in runs):
        ok = [r["sustained_requests_per_s"] for r in runs if r["layout"] == layout and not r["saturated"]
              and not r["lost_events"] and r["rank_p99_ms"] is not None and r["rank_p99_ms"] <= p99_ms]
        best[layout] = max(ok) if ok else None
    one, split = best.get("one all process"), [v for k, v in best.items() if k != "one all process"]
    ratio = round(split[0] / one, 3) if one and split and split[0] else None
    return {"rank_p99_bound_ms": p99_ms, "requests_per_s": best, "ratio": ratio,
            "note": "each layout's best is one of the offered rates: a finer --rates grid narrows it"}


def on_paper(scaled: list[dict], host_cores: int) -> dict:
    """What N ranker hosts would sustain, from the CPU each part spent per request in the
    busiest unsaturated scale-out run (per-request costs fall as batches grow, so the
    busiest run is the least pessimistic one measured). Each event is a rank and a
    reward; rankers scale with cores, the learner is one process (one core at best),
    and PostgreSQL's cost is per request, wherever it runs."""
    ok = [r for r in scaled if not r["saturated"] and not r["lost_events"]]
    if not ok:
        return {"note": "every scale-out run saturated this machine: no unsaturated costs to extrapolate from"}
    r = max(ok, key=lambda r: r["sustained_requests_per_s"])
    ranker, learner, pg = (r["ranker_cpu_ms_per_request"], r["learner_cpu_ms_per_reward"],
                           r["postgres_cpu_ms_per_request"])
    per_host = host_cores * 1e3 / ranker
    learner_limit = 2 * 1e3 / learner  # requests/s: each reward comes with one rank
    pg_per_core = 1e3 / pg if pg else float("inf")
    hosts = {n: round(min(n * per_host, learner_limit)) for n in (1, 2, 4, 8, 16)}
    return {
        "from_run": {k: r[k] for k in ("target_requests_per_s", "sustained_requests_per_s", "ranker_cpu_ms_per_request",
                                       "learner_cpu_ms_per_reward", "postgres_cpu_ms_per_request")},
        "host_cores": host_cores,
        "requests_per_s_per_ranker_host": round(per_host),
        "learner_limit_requests_per_s": round(learner_limit),
        "postgres_cores_needed_per_1000_requests_per_s": round(1e3 / pg_per_core, 2),
        "postgres_cores_needed_at_the_learner_limit": round(learner_limit / pg_per_core, 2),
        "requests_per_s_by_ranker_hosts": hosts,
        "first_limit": "learner" if learner_limit < 16 * per_host else "ranker cores",
    }


def cores_bound(runs: list[dict], cores: int, rankers: int) -> dict:
    """The most requests/s each layout could sustain on THIS machine's cores, from the CPU
    per request each part spent in its busiest unsaturated run, and so the largest ratio
    the machine allows whatever the latency: every part (service, PostgreSQL, the load
    client) shares ``cores``; one process's service is one core at most (one interpreter
    lock), and each ranker likewise. A ratio measured at the p99 bound cannot exceed it."""
    caps: dict[str, float | None] = {}
    for layout in dict.fromkeys(r["layout"] for r in runs):
        ok = [r for r in runs if r["layout"] == layout and not r["saturated"] and not r["lost_events"]]
        if not ok:
            caps[layout] = None
            continue
        r = max(ok, key=lambda r: r["sustained_requests_per_s"])
        every = r["server_cpu_ms_per_request"] + r["postgres_cpu_ms_per_request"] + r["client_cpu_ms_per_request"]
        service = r["ranker_cpu_ms_per_request"] if r.get("ranker_cpu_ms_per_request") else r["server_cpu_ms_per_request"]
        processes = 1 if layout == "one all process" else rankers
        caps[layout] = round(min(cores * 1e3 / every, processes * 1e3 / service))
    one = caps.get("one all process")
    split = [v for k, v in caps.items() if k != "one all process"]
    return {"cores": cores, "requests_per_s": caps,
            "ratio": round(split[0] / one, 3) if one and split and split[0] else None}


PG_RESTART = "pg_ctlcluster 15 main restart"  # the Debian cluster of this machine


def _restart_postgres(command: str) -> None:
    subprocess.run(command.split(), check=True, stdout=subprocess.DEVNULL)
    _wait_for_postgres(60)


def _wait_for_postgres(timeout: float) -> None:
    end = time.monotonic() + timeout
    while subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"]).returncode != 0:
        if time.monotonic() > end:
            raise RuntimeError(f"PostgreSQL is not accepting connections {timeout:.0f} s after the restart")
        time.sleep(0.1)


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _inbox_count(store) -> int:
    from sqlalchemy import func, select

    from recloop.serve.tables import inbox
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(inbox)).scalar_one())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", nargs="+", type=float, default=[500, 1000])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--rankers", type=int, default=2)
    ap.add_argument("--idle", type=float, default=0, metavar="SECONDS",
                    help="measure the split layout's CPU with no traffic for this long (nothing else)")
    ap.add_argument("--crash", type=int, default=0, help="run the scale-out kill -9 drill with this many kills")
    ap.add_argument("--pg-restart", nargs="?", const=PG_RESTART, default=None, metavar="COMMAND",
                    help="with --crash: restart PostgreSQL once, half-way, under load, with this command "
                         f"(default: {PG_RESTART!r}; needs root; other users of the server see it too)")
    ap.add_argument("--p99-ms", type=float, default=10.0, help="the rank p99 bound of the capacity comparison")
    ap.add_argument("--host-cores", type=int, default=8, help="cores per ranker host in the on-paper estimate")
    ap.add_argument("--client", choices=["python", "wrk"], default="python",
                    help="load generator for both layouts: our asyncio client, or wrk (Debian package `wrk`), whose "
                         "CPU leaves more of a shared machine's cores to the services")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.pg_restart and not args.crash:
        ap.error("--pg-restart is part of the kill drill: give --crash N too")
    if args.idle:
        result = {"benchmark": "serve_scale_idle", "command": " ".join(["benchmarks/serve_scale.py", *sys.argv[1:]]),
                  "load_avg_at_start": os.getloadavg(), **run_idle(args.idle, args.rankers)}
        print(json.dumps(result, indent=2))
        (ROOT / "benchmarks" / "results" / (args.out or "serve_scale_idle.json")).write_text(
            json.dumps(result, indent=2) + "\n")
        return
    if args.crash:
        from recloop.apps.crash import scaled_drill
        from recloop.serve.store import Store
        schema = f"scale_crash_{os.getpid()}"
        uptime0 = _uptime()
        try:
            r = scaled_drill(tempfile.mkdtemp(prefix="serve-scale-crash-"), PG_URL, schema=schema, kills=args.crash,
                             n_features=N_FEATURES, seed=0,
                             restart_db=(lambda: _restart_postgres(args.pg_restart)) if args.pg_restart else None)
        finally:
            if args.pg_restart:
                _wait_for_postgres(60)  # whatever happened: leave the shared server running
        Store(PG_URL, schema=schema).drop()
        result = {"benchmark": "serve_scale_crash", "command": " ".join(["benchmarks/serve_scale.py", *sys.argv[1:]]),
                  "layout": "learner + 2 rankers, PostgreSQL", "kills": r.kills, "victims": r.victims,
                  "acked_decisions": r.acked_decisions, "acked_rewards": r.acked_rewards,
                  "missing_decisions": len(r.missing_decisions), "wrong_decisions": len(r.wrong_decisions),
                  "missing_rewards": len(r.missing_rewards), "stored_decisions": r.stored_decisions,
                  "stored_rewards": r.stored_rewards, "model_equal_to_replay_of_log": r.model_equal,
                  "model_updates": r.model_updates, "replay_updates": r.replay_updates,
                  "learned_twice": max(0, r.model_updates - r.replay_updates),
                  "learned_missing": max(0, r.replay_updates - r.model_updates),
                  "seconds": round(r.seconds, 1), "uptime_before": uptime0, "uptime_after": _uptime(),
                  "load_avg_at_end": os.getloadavg()}
        if args.pg_restart:
            result["postgres_restart"] = {"command": args.pg_restart, **(r.db_restart or {})}
        print(json.dumps(result, indent=2))
        out = ROOT / "benchmarks" / "results" / (args.out or "serve_scale_crash.json")
        out.write_text(json.dumps(result, indent=2) + "\n")
        return
    runs, loop_ms, load0, noise0 = [], python_loop_ms(), os.getloadavg(), machine_noise()
    for rate in args.rates:
        one = {"layout": "one all process", **run_one("postgresql", rate, args.seconds, args.connections, [],
                                                      args.client)}
        scaled = run_scaled(rate, args.seconds, args.connections, args.rankers, args.client)
        runs += [one, scaled]
        for r in (one, scaled):
            print(json.dumps({k: r[k] for k in ("layout", "target_requests_per_s", "sustained_requests_per_s",
                                                "rank_p99_ms", "lost_events", "server_cpu_ms_per_request")}),
                  file=sys.stderr)
    result = {"benchmark": "serve_scale", "command": " ".join(["benchmarks/serve_scale.py", *sys.argv[1:]]),
              "machine": f"{os.cpu_count()} cores, shared with other engineers' jobs",
              "load_avg_at_start": load0, "python_loop_ms_at_start": loop_ms, "machine_noise_at_start": noise0,
              "python_loop_ms_at_end": python_loop_ms(), "machine_noise_at_end": machine_noise(),
              "client": args.client,
              "policy": "linucb", "runs": runs,
              "ratio_sustained": [round(runs[i + 1]["sustained_requests_per_s"] / runs[i]["sustained_requests_per_s"], 3)
                                  for i in range(0, len(runs), 2)]}
    result["at_p99_bound"] = at_p99_bound(runs, args.p99_ms)
    result["cores_bound"] = cores_bound(runs, os.cpu_count() or 1, args.rankers)
    result["on_paper"] = on_paper([r for r in runs if r["layout"] != "one all process"], args.host_cores)
    print(json.dumps(result, indent=2))
    out = ROOT / "benchmarks" / "results" / (args.out or "serve_scale.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
