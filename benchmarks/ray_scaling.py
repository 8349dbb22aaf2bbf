"""Ray scaling on this machine: a 16-run bandit grid and a rollout job on 1 vs 2 workers,
and the Ray backend's overhead against the local process backend on a tiny job.

    python benchmarks/ray_scaling.py [--repeats 5] [--horizon 10000] [--episodes 32]

Prints JSON (also written to benchmarks/results/ray_scaling.json). Every Ray
result is checked to be identical to the local backend's for the same seeds.

* grid: 4 policies x 4 seeds on the contextual world (20 items, 16 features).
  Ray with at most 1 task in flight vs at most 2, in one warm Ray session (2
  CPUs), alternated (1, 2, 1, 2, ...) so load drift hits both alike; the best
  of ``repeats`` and the median are reported. The process backend with 1 and 2
  processes is timed the same way, for reference.
* rollouts: ``episodes`` episodes of ``--rollout-horizon`` rounds with a frozen,
  trained LinUCB, collected by 1 vs 2 Ray actors (actors started and warmed
  before timing) and by the same loop in this process.
* overhead: a tiny grid (2 policies x 2 seeds x 50 rounds), process backend
  (2 processes, pool start included) vs Ray tasks in a warm session, plus the
  cost of starting Ray itself and of the first call after it (workers still
  importing), both measured once, at the start.

The machine is shared: the load average is recorded beside every timing, and a
control (a pure-Python loop, 2x in one process vs 1x in each of 2 processes,
no Ray) measured before and after says what parallel speed-up the machine
itself offered at the time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "src"))

import numpy as np  # noqa: E402

from recloop.agents.bandits import LinUCB  # noqa: E402
from recloop.experiment.config import parse_config  # noqa: E402
from recloop.experiment.ray_backend import execute_ray, init_ray, require_ray  # noqa: E402
from recloop.experiment.rollouts import RolloutWorkers, learn_in_rounds  # noqa: E402
from recloop.experiment.runner import execute, jobs_for, run_bandit, to_table  # noqa: E402

WORLD = {"name": "contextual", "params": {"n_arms": 20, "n_features": 16, "world_seed": 11}}
POLICIES = [{"name": "linucb", "params": {"alpha": 1.0}}, {"name": "lints", "params": {"v": 0.3}},
            {"name": "epsilon-greedy", "params": {"epsilon": 0.1}}, {"name": "thompson"}]


def load() -> float:
    return round(os.getloadavg()[0], 2)


def timed(fn):
    t0, l0 = time.perf_counter(), load()
    out = fn()
    return time.perf_counter() - t0, out, max(l0, load())


def same(a, b) -> bool:
    return to_table(a).equals(to_table(b))


def _spin(n: int) -> float:
    t0, total = time.perf_counter(), 0
    for i in range(n):
        total += i
    return time.perf_counter() - t0


def control_bench(repeats: int, n: int = 12_000_000) -> dict:
    """What parallel speed-up the machine itself gives right now: the same pure-Python
    loop twice in one process vs once in each of two processes (no Ray, no recloop).
    On a machine shared with other jobs this can be far below 2; read Ray's speed-ups
    against it."""
    import multiprocessing as mp

    serial, parallel = [], []
    with mp.get_context("fork").Pool(2) as pool:
        pool.map(_spin, [1000, 1000])
        for _ in range(repeats):
            t0 = time.perf_counter()
            _spin(n), _spin(n)
            serial.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            pool.map(_spin, [n, n])
            parallel.append(time.perf_counter() - t0)
    return {"seconds_serial": [round(x, 3) for x in serial], "seconds_two_processes": [round(x, 3) for x in parallel],
            "speedup_best": round(min(serial) / min(parallel), 3),
            "speedup_median": round(float(np.median(serial) / np.median(parallel)), 3), "load_average_1min": load()}


def grid_bench(horizon: int, repeats: int) -> dict:
    jobs = jobs_for(parse_config({"name": "grid", "env": WORLD, "policies": POLICIES, "horizon": horizon,
                                  "seeds": 4}))
    assert len(jobs) == 16
    execute_ray(jobs[:2], run_bandit, max_in_flight=2)  # warm both workers (imports) before timing
    execute(jobs[:4], "local")  # and this process
    t_local, reference, load_local = timed(lambda: execute(jobs, "local"))
    runs: dict[str, list[float]] = {"ray_1": [], "ray_2": [], "process_1": [], "process_2": []}
    loads: list[float] = [load_local]
    identical = True
    for _ in range(repeats):
        for n in (1, 2):
            t, res, ld = timed(lambda: execute_ray(jobs, run_bandit, max_in_flight=n))
            runs[f"ray_{n}"].append(t)
            loads.append(ld)
            identical &= same(res, reference)
        for n in (1, 2):
            t, res, ld = timed(lambda: execute(jobs, "process", n_jobs=n))
            runs[f"process_{n}"].append(t)
            loads.append(ld)
            identical &= same(res, reference)
    best = {k: min(v) for k, v in runs.items()}
    med = {k: float(np.median(v)) for k, v in runs.items()}
    return {
        "runs": len(jobs), "horizon": horizon, "policies": [p["name"] for p in POLICIES], "seeds": 4,
        "seconds_local_serial": round(t_local, 3),
        "seconds_best": {k: round(v, 3) for k, v in best.items()},
        "seconds_all": {k: [round(x, 3) for x in v] for k, v in runs.items()},
        "speedup_ray_2_vs_1": round(best["ray_1"] / best["ray_2"], 3),
        "speedup_ray_2_vs_1_median": round(med["ray_1"] / med["ray_2"], 3),
        "speedup_process_2_vs_1": round(best["process_1"] / best["process_2"], 3),
        "speedup_process_2_vs_1_median": round(med["process_1"] / med["process_2"], 3),
        "identical_to_local": bool(identical),
        "load_average_1min_max": max(loads),
    }


def rollout_bench(episodes: int, horizon: int, repeats: int) -> dict:
    env = {"name": "contextual", "params": {**WORLD["params"], "horizon": horizon}}
    keys = ("expected_reward", "optimal_reward")
    policy = LinUCB(n_arms=20, n_features=16, alpha=1.0, seed=0)
    with RolloutWorkers(env, n_workers=0, info_keys=keys) as local:  # train a little so it is not random
        learn_in_rounds(policy, local, rounds=2, episodes=2, seed=123)
        seeds = list(range(1000, 1000 + episodes))
        t_local, reference, l_local = timed(lambda: local.collect(policy, seeds))
    out: dict = {"episodes": episodes, "rounds_per_episode": horizon, "steps": reference.n_steps,
                 "seconds_local_loop": round(t_local, 3)}
    loads, identical = [l_local], True
    times: dict[int, list[float]] = {1: [], 2: []}
    # both pools stay up so the timings can alternate; 3 actors x 0.5 "CPU" fit Ray's 2 CPUs,
    # and only one pool runs at a time
    pools = {n: RolloutWorkers(env, n_workers=n, info_keys=keys, cpus_per_worker=0.5) for n in (1, 2)}
    try:
        for n, pool in pools.items():
            pool.collect(policy, seeds[:n])  # actors built and warm
        for _ in range(repeats):
            for n, pool in pools.items():
                t, batch, ld = timed(lambda: pool.collect(policy, seeds))
                times[n].append(t)
                loads.append(ld)
                identical &= all(np.array_equal(getattr(batch, f), getattr(reference, f))
                                 for f in ("obs", "actions", "rewards", "episode"))
    finally:
        for pool in pools.values():
            pool.close()
    out.update({
        "seconds_best": {f"ray_{n}_workers": round(min(v), 3) for n, v in times.items()},
        "seconds_all": {f"ray_{n}_workers": [round(x, 3) for x in v] for n, v in times.items()},
        "speedup_2_vs_1": round(min(times[1]) / min(times[2]), 3),
        "speedup_2_vs_1_median": round(float(np.median(times[1]) / np.median(times[2])), 3),
        "steps_per_second_2_workers": round(reference.n_steps / min(times[2])),
        "oracle_share_of_collected": round(float(reference.info["expected_reward"].sum()
                                                 / reference.info["optimal_reward"].sum()), 4),
        "identical_to_local_loop": bool(identical),
        "load_average_1min_max": max(loads),
    })
    return out


def overhead_bench(repeats: int, ray_start_seconds: float) -> dict:
    jobs = jobs_for(parse_config({"name": "tiny", "env": {"name": "bernoulli", "params": {"n_arms": 5}},
                                  "policies": [{"name": "ucb1"}, {"name": "thompson"}], "horizon": 50, "seeds": 2}))
    t_first, first, _ = timed(lambda: execute(jobs, "ray"))  # right after ray.init: workers still importing
    execute(jobs[:1], "local")  # this process's imports are not the local backend's cost
    t_local, reference, _ = timed(lambda: execute(jobs, "local"))
    proc, ray_t, loads, identical = [], [], [], same(first, reference)
    for _ in range(repeats):
        t, res, ld = timed(lambda: execute(jobs, "process", n_jobs=2))
        proc.append(t)
        identical &= same(res, reference)
        t, res, ld2 = timed(lambda: execute(jobs, "ray"))
        ray_t.append(t)
        identical &= same(res, reference)
        loads += [ld, ld2]
    return {
        "runs": len(jobs), "horizon": 50,
        "seconds_local_serial": round(t_local, 4),
        "seconds_process_2": round(min(proc), 4),
        "seconds_ray_warm_session": round(min(ray_t), 4),
        "ray_minus_process_seconds": round(min(ray_t) - min(proc), 4),
        "ray_start_seconds": round(ray_start_seconds, 2),
        "seconds_ray_first_call_after_start": round(t_first, 3),
        "identical_to_local": bool(identical),
        "load_average_1min_max": max(loads),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--horizon", type=int, default=10000, help="rounds per grid run")
    ap.add_argument("--episodes", type=int, default=32, help="episodes in the rollout job")
    ap.add_argument("--rollout-horizon", type=int, default=1000, help="rounds per rollout episode")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "ray_scaling.json")
    args = ap.parse_args()
    ray = require_ray()
    load_before = load()
    control_before = control_bench(args.repeats)  # before Ray: nothing of ours runs beside it
    t0 = time.perf_counter()
    init_ray(num_cpus=2)
    ray_start = time.perf_counter() - t0
    try:
        result = {
            "benchmark": "ray_scaling",
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "ray": ray.__version__,
                        "load_average_at_start": load_before,
                        "note": "shared machine: other jobs ran beside this one; see load_average_* fields"},
            "machine_parallelism_before": control_before,
            "overhead": overhead_bench(args.repeats, ray_start),  # first: it times the cold start too
            "grid": grid_bench(args.horizon, args.repeats),
            "rollouts": rollout_bench(args.episodes, args.rollout_horizon, args.repeats),
        }
    finally:
        ray.shutdown()
    result["machine_parallelism_after"] = control_bench(args.repeats)
    text = json.dumps(result, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
