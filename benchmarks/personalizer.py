"""Azure Personalizer's API on recloop, measured through Personalizer's own Python client.

A simulated world whose click probabilities depend on namespaced JSON features of the
user and the item through context x item interactions:

    logit = -2.2 + U[user.segment, item.genre] + V[device.type, item.price]
                 + W[time.daypart, item.genre] + b[item]

Each event offers 10 of 40 items. The application's own rule (the *baseline*, sent
first in the action list, as Personalizer expects) shows the cheapest item of the
genre its user segment likes best on average - sensible, but blind to device and
daypart. Parts, all through ``azure-ai-personalizer`` against ``recloop serve``:

- ``online``: Online mode from a fresh model; per block of 1,000 events, the true
  click probability of what was served, of the model's greedy choice, of the oracle
  (best item), the baseline and random; the goal is served >= 90% of the oracle
  within 20k events.
- ``ope``: the online run continues to 50k logged events, then an offline evaluation
  over all of them (createEvaluation/getEvaluation); each policy's estimate and
  interval against its true value in this world (Online, Baseline, Random).
- ``apprentice``: a fresh model in Apprentice mode; how often the model's own choice
  matches the baseline (``latestApprenticeModeMetrics``) per 500 events, up to 5k.
- ``latency``: one service, an open-loop load at ``--rate`` events/s, each event a
  rank then a reward, alternating between ``/v1`` (20 candidates x 16 floats) and
  ``/personalizer`` (20 actions with JSON features) in the same run, from one load
  client (wrk with ``benchmarks/personalizer_load.lua`` when installed, else our
  asyncio client: ``--client``); p50/p99 of each rank and their ratio, and the
  service's CPU per request served. ``--latency-mix personalizer`` (or ``v1``) sends
  only that kind of event, to compare their CPU per request.

    .venv/bin/python benchmarks/personalizer.py                       # everything (~12 min on 2 cores)
    .venv/bin/python benchmarks/personalizer.py --parts latency --rate 1000 100 --seconds 20

Writes benchmarks/results/personalizer.json (or ``--out``).
"""

from __future__ import annotations

import argparse
import datetime as dt
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
sys.path.insert(0, str(ROOT / "benchmarks"))

from serve_load import _cpu_seconds  # noqa: E402

USER_KEY, ADMIN_KEY = "bench-user-key", "bench-admin-key"
SEGMENTS, GENRES, DEVICES, PRICES, DAYPARTS = 6, 6, 3, 3, 4
N_ITEMS, N_OFFERED = 40, 10


class World:
    """Users and items with namespaced JSON features; the true click probability of each."""

    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.U = rng.normal(0, 1.2, (SEGMENTS, GENRES))
        self.V = rng.normal(0, 0.7, (DEVICES, PRICES))
        self.W = rng.normal(0, 0.6, (DAYPARTS, GENRES))
        self.genre = rng.integers(GENRES, size=N_ITEMS)
        self.price = rng.integers(PRICES, size=N_ITEMS)
        self.bias = rng.normal(0, 0.3, N_ITEMS)
        self.favourite = self.U.argmax(axis=1)

    def event(self, rng: np.random.Generator) -> tuple[dict, tuple, np.ndarray]:
        u = (int(rng.integers(SEGMENTS)), int(rng.integers(DEVICES)), int(rng.integers(DAYPARTS)))
        ctx = {"user": {"segment": f"s{u[0]}", "returning": bool(rng.random() < 0.5)},
               "device": {"type": ["mobile", "desktop", "tablet"][u[1]]},
               "time": {"daypart": ["morning", "noon", "evening", "night"][u[2]]}}
        items = rng.choice(N_ITEMS, size=N_OFFERED, replace=False)
        return ctx, u, items

    def p(self, u: tuple, items: np.ndarray) -> np.ndarray:
        logit = (-2.2 + self.U[u[0], self.genre[items]] + self.V[u[1], self.price[items]]
                 + self.W[u[2], self.genre[items]] + self.bias[items])
        return 1.0 / (1.0 + np.exp(-logit))

    def baseline_first(self, u: tuple, items: np.ndarray) -> np.ndarray:
        """The offered items in the application's order: its rule's pick first."""
        key = [(self.genre[i] != self.favourite[u[0]], self.price[i], i) for i in items]
        first = items[min(range(len(items)), key=lambda j: key[j])]
        return np.array([first, *[i for i in items if i != first]])

    def actions(self, items: np.ndarray) -> list[dict]:
        return [{"id": f"item-{i}", "features": [{"item": {"id": f"item-{i}", "genre": f"g{self.genre[i]}",
                                                           "price": ["low", "mid", "high"][self.price[i]]}}]}
                for i in items]


# ---------------------------------------------------------------- the service
class Service:
    def __init__(self, workdir: Path, extra: list[str] = ()):
        from recloop.serve.runner import free_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "RECLOOP_API_KEY": USER_KEY,
               "RECLOOP_ADMIN_KEY": ADMIN_KEY}
        cmd = [sys.executable, "-m", "recloop.apps", "serve", "--db", f"sqlite:///{workdir / 'recloop.db'}",
               "--port", str(self.port), "--snapshot-every", "30", "--log-level", "error", *extra]
        self.proc = subprocess.Popen(cmd, env=env, stdout=open(workdir / "server.log", "ab"), stderr=subprocess.STDOUT)
        import httpx
        end = time.monotonic() + 60
        while time.monotonic() < end:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not start; see {workdir / 'server.log'}")

    def clients(self):
        from azure.ai.personalizer import PersonalizerAdministrationClient, PersonalizerClient
        from azure.core.credentials import AzureKeyCredential
        return (PersonalizerClient(self.url, AzureKeyCredential(USER_KEY)),
                PersonalizerAdministrationClient(self.url, AzureKeyCredential(ADMIN_KEY)))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def play(world: World, svc: "Service", n: int, seed: int, prefix: str, log: dict, threads: int = 8) -> None:
    """``n`` events through the client from ``threads`` application threads: rank (baseline
    first), reward the simulated click. Rows are appended to ``log`` in completion order."""
    from concurrent.futures import ThreadPoolExecutor

    def worker(w: int) -> list:
        client, _ = svc.clients()
        rng = np.random.default_rng([seed, w])
        rows = []
        for i in range(w, n, threads):
            ctx, u, items = world.event(rng)
            items = world.baseline_first(u, items)
            p = world.p(u, items)
            out = client.rank({"contextFeatures": [ctx], "actions": world.actions(items), "eventId": f"{prefix}{i}"})
            probs = {r["id"]: r["probability"] for r in out["ranking"]}
            pi = np.array([probs[f"item-{k}"] for k in items])
            c = int(np.flatnonzero(items == int(out["rewardActionId"].split("-")[1]))[0])
            click = float(rng.random() < p[c])
            client.reward(out["eventId"], {"value": click})
            rows.append((time.perf_counter(), {"served": p[c], "greedy": p[int(np.argmax(pi))], "oracle": p.max(),
                                               "baseline": p[0], "random": p.mean(), "logging": float(pi @ p),
                                               "click": click}))
        return rows

    with ThreadPoolExecutor(threads) as pool:
        rows = [r for part in pool.map(worker, range(threads)) for r in part]
    for _, row in sorted(rows, key=lambda r: r[0]):
        for key, value in row.items():
            log.setdefault(key, []).append(float(value))


def blocks(log: dict, size: int) -> list[dict]:
    n = len(log["served"])
    return [{"events": end, **{k: round(float(np.mean(v[end - size:end])), 4) for k, v in log.items()}}
            for end in range(size, n + 1, size)]


def part_online_and_ope(world: World, args, workdir: Path) -> dict:
    svc = Service(workdir)
    client, admin = svc.clients()
    try:
        admin.update_service_configuration({"explorationPercentage": args.exploration})
        start = dt.datetime.now(dt.timezone.utc)
        log: dict = {}
        t0 = time.perf_counter()
        play(world, svc, args.events, args.seed, "on-", log)
        online_s = time.perf_counter() - t0
        curve = blocks(log, 1000)
        last = curve[-1]
        out = {"online": {"events": args.events, "explorationPercentage": args.exploration, "seconds": online_s,
                          "curve": curve, "served_over_oracle_last_block": last["served"] / last["oracle"],
                          "greedy_over_oracle_last_block": last["greedy"] / last["oracle"],
                          "first_block_reaching_90pct": next((b["events"] for b in curve
                                                              if b["served"] >= 0.9 * b["oracle"]), None)}}
        print(json.dumps({"online": {k: v for k, v in out["online"].items() if k != "curve"}}), flush=True)
        if "ope" not in args.parts:
            return out
        play(world, svc, args.ope_events - args.events, args.seed + 1, "ope-", log)
        end = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
        t0 = time.perf_counter()
        admin.create_evaluation("bench", {"name": "bench", "startTime": start.isoformat(), "endTime": end.isoformat(),
                                          "enablePolicyOptimization": args.optimization})
        while (ev := admin.get_evaluation("bench", start_time=start, end_time=end))["status"] == "Running":
            time.sleep(1)
        eval_s = time.perf_counter() - t0
        truth = {"Online": float(np.mean(log["logging"])), "Baseline": float(np.mean(log["baseline"])),
                 "Random": float(np.mean(log["random"]))}
        rows = {}
        for v in ev["content"]["value"]:
            lo, hi = v["summary"]["confidenceInterval"]
            row = {"name": v["name"], "estimate": v["summary"]["expectedReward"], "interval": [lo, hi],
                   "events": v["summary"]["events"]}
            if v["policySource"] in truth:  # one entry each: the logged online policy, baseline, random
                row["truth"] = truth[v["policySource"]]
                row["covered"] = bool(lo <= row["truth"] <= hi)
            rows[v["policySource"] if v["policySource"] in truth else v["name"]] = row
        assert all(k in rows for k in truth), rows
        est_order = sorted(truth, key=lambda k: -rows[k]["estimate"])
        out["ope"] = {"events": len(log["served"]), "status": ev["status"], "seconds": eval_s,
                      "optimalPolicy": ev.get("optimalPolicy"), "policies": rows,
                      "true_order": sorted(truth, key=lambda k: -truth[k]), "estimated_order": est_order,
                      "order_right": est_order == sorted(truth, key=lambda k: -truth[k]),
                      "all_covered": all(rows[k]["covered"] for k in truth)}
        print(json.dumps({"ope": out["ope"]}), flush=True)
        return out
    finally:
        svc.stop()


def part_apprentice(world: World, args, workdir: Path) -> dict:
    svc = Service(workdir)
    client, admin = svc.clients()
    try:
        admin.update_service_configuration({"learningMode": "Apprentice"})
        log: dict = {}
        curve = []
        for done in range(500, args.apprentice_events + 1, 500):
            play(world, svc, 500, args.seed + done, f"app-{done}-", log)
            time.sleep(0.2)  # the last rewards learned
            m = admin.get_service_configuration()["latestApprenticeModeMetrics"]
            b = m["lastBatchMetrics"]
            curve.append({"events": done, "imitated_last_1000": b["numberOfImitatedEvents"] / b["numberOfEvents"],
                          "imitated_all": m["numberOfImitatedEvents"] / m["numberOfEvents"],
                          "served_is_baseline": float(np.mean(np.array(log["served"]) == np.array(log["baseline"])))})
        out = {"events": args.apprentice_events, "curve": curve, "final_imitation_last_1000": curve[-1]["imitated_last_1000"],
               "first_events_reaching_80pct": next((c["events"] for c in curve if c["imitated_last_1000"] >= 0.8), None)}
        print(json.dumps({"apprentice": out}), flush=True)
        return out
    finally:
        svc.stop()


# ---------------------------------------------------------------- latency: /v1 and /personalizer in one run
def latency_workload(rate: float, seconds: float, mix: str = "both") -> tuple[list[bytes], list[tuple[str, str]]]:
    """Event i's rank body and its (rank path, reward path): even events /v1 (20 candidates
    x 16 floats), odd ones /personalizer (20 actions with JSON features); with ``mix`` "v1"
    or "personalizer", every event is of that one kind (the same bodies as in "both")."""
    world = World(0)
    rng = np.random.default_rng(7)
    n = int(rate * seconds)
    v1_cands = json.dumps([{"id": f"item-{k}", "features": rng.normal(size=16).round(6).tolist()}
                           for k in range(20)], separators=(",", ":"))
    bodies, paths = [], []
    for i in range(n):
        if mix == "v1" or (mix == "both" and i % 2 == 0):
            bodies.append((f'{{"event_id":"v{i}","context":{json.dumps(rng.normal(size=16).round(6).tolist())},'
                           f'"candidates":{v1_cands}}}').encode())
            paths.append(("/v1/rank", f"/v1/events/v{i}/reward"))
        else:
            ctx, u, items = world.event(rng)
            items = np.concatenate([items, rng.choice(np.setdiff1d(np.arange(N_ITEMS), items), 10, replace=False)])
            bodies.append(json.dumps({"contextFeatures": [ctx], "actions": world.actions(items),
                                      "eventId": f"p{i}"}, separators=(",", ":")).encode())
            q = "?api-version=2022-09-01-preview"
            paths.append((f"/personalizer/rank{q}", f"/personalizer/events/p{i}/reward{q}"))
    return bodies, paths


def latency_client(port: int, rate: float, seconds: float, connections: int, out: str, mix: str) -> None:
    """The Python load client (asyncio, raw keep-alive connections)."""
    import asyncio

    from recloop.apps.traffic import HttpConnection, run_timed

    bodies, paths = latency_workload(rate, seconds, mix)
    n = len(bodies)
    lat = np.full(n, np.nan)
    rew = np.full(n, np.nan)
    errors: dict[str, int] = {}
    headers = {"X-API-Key": USER_KEY, "Ocp-Apim-Subscription-Key": USER_KEY}

    async def run() -> float:
        pool: asyncio.Queue = asyncio.Queue()
        for _ in range(connections):
            pool.put_nowait(HttpConnection("127.0.0.1", port, headers))

        async def event(i: int) -> None:
            conn = await pool.get()
            try:
                t0 = time.perf_counter()
                status, _ = await conn.post(paths[i][0], bodies[i])
                lat[i] = time.perf_counter() - t0
                if status not in (200, 201):
                    errors[f"rank {status}"] = errors.get(f"rank {status}", 0) + 1
                    return
                t0 = time.perf_counter()
                status, _ = await conn.post(paths[i][1], b'{"value":1}')
                rew[i] = time.perf_counter() - t0
                if status != 204:
                    errors[f"reward {status}"] = errors.get(f"reward {status}", 0) + 1
            except (OSError, asyncio.IncompleteReadError) as err:
                errors[type(err).__name__] = errors.get(type(err).__name__, 0) + 1
            finally:
                pool.put_nowait(conn)

        start = time.perf_counter()
        tasks = []
        for i in range(n):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(event(i)))
        await asyncio.gather(*tasks)
        return time.perf_counter() - start

    elapsed = run_timed(run)
    Path(out).write_text(json.dumps({"elapsed_s": elapsed, "rank": lat.tolist(), "reward": rew.tolist(),
                                     "errors": errors}))


def latency_wrk(port: int, rate: float, seconds: float, connections: int, workdir: Path, out: Path,
                mix: str) -> None:
    """The same events through wrk and benchmarks/personalizer_load.lua: one connection per
    wrk thread; C code sends and parses, so the client leaves the shared cores to the service."""
    bodies, paths = latency_workload(rate, seconds, mix)
    n = len(bodies)
    threads = min(connections, n)
    for t in range(threads):  # thread t plays events t, t + threads, t + 2 threads, ...
        with open(workdir / f"events-{t}", "w") as fh:
            for i in range(t, n, threads):
                fh.write(f"{paths[i][0]}\t{bodies[i].decode()}\t{paths[i][1]}\n")
    env = {**os.environ, "PZ_EVENTS": str(workdir / "events-"), "PZ_KEY": USER_KEY, "PZ_RATE": str(rate),
           "PZ_THREADS": str(threads), "PZ_OUT": str(workdir / "wrk.json")}
    budget = int(seconds * 1.5) + 3  # wrk runs this long whatever; a thread stops after its last event
    cmd = ["wrk", "-t", str(threads), "-c", str(threads), "-d", f"{budget}s", "--timeout", "10s",
           "-s", str(ROOT / "benchmarks" / "personalizer_load.lua"), f"http://127.0.0.1:{port}"]
    with open(workdir / "wrk.log", "w") as log:
        subprocess.run(cmd, check=True, env=env, stdout=log, stderr=subprocess.STDOUT)
    w = json.loads((workdir / "wrk.json").read_text())
    lat, rew = np.full(n, np.nan), np.full(n, np.nan)
    for t in w["threads"]:
        idx = np.arange(t["tid"], n, threads)[:len(t["rank"])]
        lat[idx] = np.array([np.nan if v is None else v for v in t["rank"]], dtype=float)
        rew[idx] = np.array([np.nan if v is None else v for v in t["reward"]], dtype=float)
    out.write_text(json.dumps({"elapsed_s": w["elapsed_s"], "rank": lat.tolist(), "reward": rew.tolist(),
                               "errors": w["errors"]}))


def part_latency(args, rate: float, workdir: Path) -> dict:
    svc = Service(workdir, ["--policy", "linucb", "--n-features", "16"])
    try:
        import httpx
        httpx.put(f"{svc.url}/personalizer/configurations/service", headers={"Ocp-Apim-Subscription-Key": ADMIN_KEY},
                  json={"rewardWaitTime": "PT10M"}).raise_for_status()
        out_file = workdir / "latency.json"
        load0 = os.getloadavg()
        pid = svc.proc.pid
        cpu0, main0 = _cpu_seconds(pid), _cpu_seconds(pid, thread=pid)  # the main thread: the event loop
        if args.client == "wrk":
            latency_wrk(svc.port, rate, args.seconds, args.connections, workdir, out_file, args.latency_mix)
        else:
            subprocess.run([sys.executable, __file__, "--latency-client", str(svc.port), str(rate),
                            str(args.seconds), str(args.connections), str(out_file), args.latency_mix], check=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        load1 = os.getloadavg()
        end = time.monotonic() + 30
        while httpx.get(f"{svc.url}/healthz").json()["pending"] and time.monotonic() < end:
            time.sleep(0.1)
        time.sleep(0.5)  # the Personalizer learner's last rewards (it learns every learn_interval_s)
        cpu, main = _cpu_seconds(pid) - cpu0, _cpu_seconds(pid, thread=pid) - main0
        r = json.loads(out_file.read_text())
        lat, rew = np.array(r["rank"], dtype=float), np.array(r["reward"], dtype=float)
        served = int((~np.isnan(lat)).sum() + (~np.isnan(rew)).sum())
        skip = int(len(lat) * 0.1)  # warm-up: the first 10% of events
        if args.latency_mix == "both":
            v1 = np.arange(len(lat)) % 2 == 0
        else:
            v1 = np.full(len(lat), args.latency_mix == "v1")
        pz = ~v1
        v1[:skip] = pz[:skip] = False

        def q(a: np.ndarray) -> dict | None:
            a = a[~np.isnan(a)] * 1000
            if not a.size:
                return None
            return {"n": int(a.size), "p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99))}
        out = {"client": args.client, "mix": args.latency_mix, "rate_events_per_s": rate, "requests_per_s": 2 * rate,
               "seconds": args.seconds, "elapsed_s": r["elapsed_s"], "connections": args.connections,
               "errors": r["errors"], "v1_rank": q(lat[v1]), "personalizer_rank": q(lat[pz]),
               "v1_reward": q(rew[v1]), "personalizer_reward": q(rew[pz]),
               # CPU the service spent per request served (user + system, all its threads, its
               # learners included), over the whole run: capacity, and steadier under load than latency
               "server_cpu_ms_per_request": round(float(cpu.sum()) * 1e3 / max(1, served), 3),
               "server_user_sys_ms_per_request": [round(float(v) * 1e3 / max(1, served), 3) for v in cpu],
               # of which the event loop's thread (HTTP, parsing, ranking): the rest is the group-commit
               # writers and the store, whose CPU per request falls as batches grow with the load
               "server_main_thread_cpu_ms_per_request": round(float(main.sum()) * 1e3 / max(1, served), 3),
               "loadavg_before": load0, "loadavg_after": load1}
        if out["v1_rank"] and out["personalizer_rank"]:
            out["rank_p99_ratio"] = out["personalizer_rank"]["p99_ms"] / out["v1_rank"]["p99_ms"]
        print(json.dumps({"latency": out}), flush=True)
        return out
    finally:
        svc.stop()


class _kept:
    def __init__(self, path: str):
        self.path = path

    def __enter__(self) -> str:
        Path(self.path).mkdir(parents=True, exist_ok=False)
        return self.path

    def __exit__(self, *exc) -> None:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", nargs="+", default=["online", "ope", "apprentice", "latency"])
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--ope-events", type=int, default=50_000)
    ap.add_argument("--apprentice-events", type=int, default=5_000)
    ap.add_argument("--exploration", type=float, default=5.0, help="explorationPercentage of the online run")
    ap.add_argument("--optimization", action="store_true", help="enablePolicyOptimization in the evaluation")
    ap.add_argument("--rate", type=float, nargs="+", default=[1000.0, 100.0],
                    help="latency part: events/s (each a rank + a reward), one run per rate")
    ap.add_argument("--latency-mix", choices=["both", "personalizer", "v1"], default="both",
                    help="latency part: alternate /v1 and /personalizer events, or send only one kind "
                         "(its CPU per request alone)")
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--client", choices=["auto", "wrk", "python"], default="auto",
                    help="latency part's load client, the same for both APIs: wrk (Debian package `wrk`, "
                         "cheapest on a shared machine) or our asyncio client; auto takes wrk when installed")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "personalizer.json"))
    ap.add_argument("--workdir", default=None, help="keep the services' stores and logs here (default: a temp dir)")
    ap.add_argument("--latency-client", nargs=6, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.latency_client:
        port, rate, seconds, conns, out, mix = args.latency_client
        latency_client(int(port), float(rate), float(seconds), int(conns), out, mix)
        return
    if args.client == "auto":
        args.client = "wrk" if shutil.which("wrk") else "python"
    elif args.client == "wrk" and not shutil.which("wrk"):
        ap.error("--client wrk: the wrk binary is not on PATH (apt-get install wrk)")
    world = World(args.seed)
    result: dict = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "machine": platform.platform(),
                    "cpus": os.cpu_count(), "started": dt.datetime.now(dt.timezone.utc).isoformat()}
    with (tempfile.TemporaryDirectory() if args.workdir is None else _kept(args.workdir)) as tmp:
        if "online" in args.parts or "ope" in args.parts:
            (Path(tmp) / "online").mkdir()
            result.update(part_online_and_ope(world, args, Path(tmp) / "online"))
        if "apprentice" in args.parts:
            (Path(tmp) / "apprentice").mkdir()
            result["apprentice"] = part_apprentice(world, args, Path(tmp) / "apprentice")
        if "latency" in args.parts:
            result["latency"] = []
            for rate in args.rate:
                (Path(tmp) / f"latency-{rate:g}").mkdir()
                result["latency"].append(part_latency(args, rate, Path(tmp) / f"latency-{rate:g}"))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
