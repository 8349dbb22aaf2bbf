"""Run policies x seeds on a world and gather a tidy per-step table.

Bandit policies play ``horizon`` rounds with exact regret; tabular, deep and slate policies
train for ``horizon`` steps and record their episode returns (see
:mod:`recloop.experiment.families` for which loop a policy runs in).

Every (policy, seed) run sees the *same* world for a given seed (common random
numbers: the env is reset with that seed), so differences between policies are
not luck of the draw. Policies get their own seed derived from (seed, label).
"""

from __future__ import annotations

import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pyarrow as pa

from recloop.core.registry import build
from recloop.core.seeding import derive
from recloop.experiment.config import EnvSpec, ExperimentConfig, PolicySpec, import_plugins
from recloop.experiment.families import (bandit_info_error, build_env, episodic_columns, make_world,
                                         missing_bandit_info, resolve_policy, train_episodic)

COLUMNS = ["policy", "seed", "step", "expected_reward", "cum_reward", "cum_expected", "cum_optimal", "regret"]
EPISODIC_COLUMNS = ["policy", "seed", "step", "episodes", "episode_return", "cum_reward"]


@dataclass(frozen=True)
class Job:
    env: EnvSpec
    policy: PolicySpec
    seed: int
    horizon: int
    every: int
    model_dir: str | None = None  # where the run saves its final policy (None: not saved)
    plugins: tuple[str, ...] = ()  # modules to import first (a worker process must register them too)


@dataclass
class RunResult:
    """One (policy, seed) run: recorded steps plus totals, or the error it raised."""

    label: str
    seed: int
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None


def policy_seed(seed: int, label: str) -> int:
    """The seed of policy ``label`` in the run with world seed ``seed``: its own stream, never the world's."""
    return derive(seed, "policy", label)


def build_policy(spec: PolicySpec, env: Any, seed: int) -> Any:
    """Instantiate a policy, filling ``n_arms`` / ``n_features`` / ``seed`` from the env where the policy takes them."""
    return build("policy", spec.name, spec.params, n_arms=int(env.action_space.n),
                 n_features=getattr(env, "n_features", None), seed=policy_seed(seed, spec.label or spec.name))


def run_job(job: Job) -> RunResult:
    """One (policy, seed) run in the loop of the policy's family."""
    t0 = time.perf_counter()
    _one_thread_for_torch()
    try:
        import_plugins(job.plugins)
        family, factory = resolve_policy(job.policy.name)
        if family == "bandit":
            return run_bandit(job)
        env = make_world(family, job.env, job.horizon)
        policy, ends = train_episodic(family, factory, job.policy, env, job.horizon, job.seed,
                                      policy_seed(job.seed, job.policy.label or job.policy.name))
        save_model(policy, job)
        cols = episodic_columns(ends, job.horizon, job.every)
        return RunResult(job.policy.label, job.seed, cols, time.perf_counter() - t0)
    except Exception:  # one failing run is reported; the rest of the grid completes
        return RunResult(job.policy.label, job.seed, seconds=time.perf_counter() - t0,
                         error=traceback.format_exc())


def run_bandit(job: Job) -> RunResult:
    """Play one policy against one seeded world for ``horizon`` rounds."""
    t0 = time.perf_counter()
    _one_thread_for_torch()
    try:
        import_plugins(job.plugins)
        env = build_env(job.env.name, dict(job.env.params), horizon=job.horizon)
        obs, info = env.reset(seed=job.seed)
        policy = build_policy(job.policy, env, job.seed)
        n = job.horizon
        expected = np.empty(n)
        optimal = np.empty(n)
        realised = np.empty(n)
        for t in range(n):
            action = policy.act(obs, candidates=info.get("candidates"))
            next_obs, reward, terminated, truncated, info = env.step(action)
            policy.update(action, reward, obs)
            if t == 0 and (missing := missing_bandit_info(info)):
                raise ValueError(bandit_info_error(job.env.name, env, missing))
            expected[t], optimal[t], realised[t] = info["expected_reward"], info["optimal_reward"], reward
            obs = next_obs
        save_model(policy, job)
        idx = np.unique(np.r_[np.arange(job.every - 1, n, job.every), n - 1])
        cum_exp, cum_opt = np.cumsum(expected), np.cumsum(optimal)
        cols = {
            "step": idx + 1,
            "expected_reward": expected[idx],
            "cum_reward": np.cumsum(realised)[idx],
            "cum_expected": cum_exp[idx],
            "cum_optimal": cum_opt[idx],
            "regret": (cum_opt - cum_exp)[idx],
        }
        return RunResult(job.policy.label, job.seed, cols, time.perf_counter() - t0)
    except Exception:  # one failing run is reported; the rest of the grid completes
        return RunResult(job.policy.label, job.seed, seconds=time.perf_counter() - t0,
                         error=traceback.format_exc())


def save_model(policy: Any, job: Job) -> None:
    """The learned policy of one (policy, seed) run, as ``MODEL_DIR/LABEL-seedN.npz``."""
    if job.model_dir is None or not hasattr(policy, "save"):
        return
    import re
    from pathlib import Path

    label = re.sub(r"[^A-Za-z0-9_.=-]+", "_", job.policy.label or job.policy.name)
    policy.save(Path(job.model_dir) / f"{label}-seed{job.seed}.npz")


def _one_thread_for_torch() -> None:
    """Runs are parallel across processes; tiny networks inside one run only lose
    from intra-op threads fighting over the same cores."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        try:
            import torch
        except ImportError:
            return
    torch.set_num_threads(1)


def jobs_for(cfg: ExperimentConfig, model_dir: str | None = None) -> list[Job]:
    return [Job(cfg.env, p, s, cfg.horizon, cfg.every, model_dir, tuple(cfg.plugins))
            for p in cfg.policies for s in cfg.seeds]


def execute(jobs: list[Job], backend: str = "local", n_jobs: int = 1, *,
            on_done: Callable[[RunResult], None] | None = None, ray_address: str | None = None) -> list[RunResult]:
    """Run jobs on a backend; results come back in job order whatever the backend."""
    done = on_done or (lambda r: None)
    if backend == "local" or (backend == "process" and n_jobs == 1):
        results = []
        for job in jobs:
            results.append(run_job(job))
            done(results[-1])
        return results
    if backend == "process":
        results: list[RunResult | None] = [None] * len(jobs)
        with ProcessPoolExecutor(max_workers=n_jobs) as pool:
            futures = {pool.submit(run_job, job): i for i, job in enumerate(jobs)}
            for fut in as_completed(futures):
                results[futures[fut]] = fut.result()
                done(results[futures[fut]])
        return results  # type: ignore[return-value]
    if backend == "ray":
        try:
            from recloop.experiment.ray_backend import execute_ray
        except ImportError as err:
            raise RuntimeError(f"backend 'ray' is not available: {err}") from err
        # n_jobs > 1 caps the tasks in flight; otherwise the cluster's CPUs decide
        return execute_ray(jobs, run_job, address=ray_address, on_done=done,
                           max_in_flight=n_jobs if n_jobs > 1 else None)
    raise ValueError(f"unknown backend {backend!r}; use local, process or ray")


def to_table(results: list[RunResult]) -> pa.Table:
    """The tidy table: one row per (policy, seed, recorded step)."""
    parts = [r for r in results if r.error is None]
    if not parts:
        return pa.table({c: pa.array([], pa.float64()) for c in COLUMNS})
    columns = COLUMNS if all("regret" in r.columns for r in parts) else EPISODIC_COLUMNS
    n = [len(r.columns["step"]) for r in parts]
    data = {
        "policy": pa.array(np.repeat([r.label for r in parts], n)),
        "seed": pa.array(np.repeat([r.seed for r in parts], n).astype(np.int64)),
    }
    for c in columns[2:]:
        data[c] = pa.array(np.concatenate([r.columns.get(c, np.full(len(r.columns["step"]), np.nan))
                                           for r in parts]))
    return pa.table(data)


def summarise(results: list[RunResult], labels: list[str]) -> list[dict]:
    """Leaderboard rows, best (lowest final regret) first; mean +/- sd over seeds."""
    rows = []
    for label in labels:
        runs = [r for r in results if r.label == label and r.error is None]
        if not runs:
            rows.append({"policy": label, "runs": 0, "failed": sum(r.label == label for r in results)})
            continue
        if "regret" not in runs[0].columns:
            rows.append(_episodic_row(label, runs, results))
            continue
        steps = np.array([r.columns["step"][-1] for r in runs])
        mean_reward = np.array([r.columns["cum_reward"][-1] for r in runs]) / steps
        regret = np.array([r.columns["regret"][-1] for r in runs])
        share = np.array([r.columns["cum_expected"][-1] / r.columns["cum_optimal"][-1] for r in runs])
        rows.append({
            "policy": label, "runs": len(runs),
            "mean_reward": float(mean_reward.mean()), "mean_reward_sd": float(mean_reward.std(ddof=1)) if len(runs) > 1 else 0.0,
            "regret": float(regret.mean()), "regret_sd": float(regret.std(ddof=1)) if len(runs) > 1 else 0.0,
            "oracle_share": float(share.mean()),
            "seconds": float(np.mean([r.seconds for r in runs])),
            "failed": sum(r.label == label and r.error is not None for r in results),
        })
    if any("mean_return" in r for r in rows):
        return sorted(rows, key=lambda r: -r["mean_return"] if np.isfinite(r.get("mean_return", np.nan)) else np.inf)
    return sorted(rows, key=lambda r: r.get("regret", np.inf))


def _episodic_row(label: str, runs: list[RunResult], results: list[RunResult]) -> dict:
    """Mean return of the last episodes of each run, mean +/- sd over seeds."""
    final = np.array([r.columns["episode_return"][-1] for r in runs])
    sd = float(np.nanstd(final, ddof=1)) if np.isfinite(final).sum() > 1 else 0.0
    return {"policy": label, "runs": len(runs),
            "mean_return": float(np.nanmean(final)) if np.isfinite(final).any() else float("nan"),
            "mean_return_sd": sd,
            "episodes": float(np.mean([r.columns["episodes"][-1] for r in runs])),
            "seconds": float(np.mean([r.seconds for r in runs])),
            "failed": sum(r.label == label and r.error is not None for r in results)}
