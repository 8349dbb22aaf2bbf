"""The Ray backend, sweeps on Ray and rollout workers, on one local Ray session (2 CPUs).

Ray takes seconds to start, so every test here shares one session (module
fixture); the backend reuses a running session and leaves it up.
"""

import os
import sys

import gymnasium as gym
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

ray = pytest.importorskip("ray")

from recloop.agents.bandits import EpsilonGreedy  # noqa: E402
from recloop.apps.cli import app  # noqa: E402
from recloop.envs.bandits import ContextualBandit  # noqa: E402
from recloop.experiment.config import parse_config  # noqa: E402
from recloop.experiment.ray_backend import execute_ray, init_ray  # noqa: E402
from recloop.experiment.rollouts import RolloutWorkers  # noqa: E402
from recloop.experiment.runner import execute, jobs_for, run_bandit, to_table  # noqa: E402
from recloop.experiment.sweep import parse_sweep, run_sweep  # noqa: E402

pytestmark = pytest.mark.xdist_group("ray")  # one Ray session per worker that runs these

GRID = {
    "name": "grid",
    "env": {"name": "bernoulli", "params": {"means": [0.2, 0.5, 0.8]}},
    "policies": [{"name": "random"}, {"name": "ucb1"}, {"name": "thompson", "label": "TS"}],
    "horizon": 200,
    "seeds": 2,
}


@pytest.fixture(scope="module")
def session():
    started = init_ray(num_cpus=2)
    # workers cannot import this test module: ship the functions defined here by value
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray
    if started:
        ray.shutdown()


def test_ray_backend_gives_the_local_table_in_job_order(session):
    jobs = jobs_for(parse_config(GRID))
    arrived = []
    on_ray = execute(jobs, "ray", on_done=arrived.append)
    local = execute(jobs, "local")
    assert to_table(on_ray).equals(to_table(local))
    assert [(r.label, r.seed) for r in on_ray] == [(j.policy.label, j.seed) for j in jobs]
    assert sorted((r.label, r.seed) for r in arrived) == sorted((r.label, r.seed) for r in local)
    assert session.is_initialized()  # a session we did not start is left up


def _dies_on_ucb1_seed_1(job):
    if job.policy.label == "ucb1" and job.seed == 1:
        os._exit(3)  # the worker process vanishes: a Ray-level failure, not a Python exception
    return run_bandit(job)


def test_failures_are_reported_with_their_traceback_and_the_rest_complete(session):
    cfg = parse_config({**GRID, "env": {"name": "gaussian", "params": {"n_arms": 3}},
                        "policies": [{"name": "ucb1"}, {"name": "gittins"}]})
    res = execute(jobs_for(cfg), "ray")
    failed = {(r.label, r.seed): r.error for r in res if r.error}
    assert set(failed) == {("gittins", 0), ("gittins", 1)}  # Gittins refuses non-binary rewards
    assert all("Traceback" in e and "rewards must be 0 or 1" in e for e in failed.values())
    assert all(len(r.columns["step"]) for r in res if r.label == "ucb1")

    crashed = execute_ray(jobs_for(cfg), _dies_on_ucb1_seed_1, retries=0)
    assert [r.label for r in crashed if r.error and "WorkerCrashedError" in r.error] == ["ucb1"]
    assert sum(r.error is None for r in crashed) == 1  # ucb1 seed 0 completed beside the crash


def test_cli_run_with_ray_backend_matches_local(session, tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(GRID))
    runner = CliRunner()
    for backend in ("ray", "local"):
        res = runner.invoke(app, ["run", str(path), "--backend", backend, "--out", str(tmp_path / backend)])
        assert res.exit_code == 0, res.output
    assert (tmp_path / "ray" / "metrics.csv").read_bytes() == (tmp_path / "local" / "metrics.csv").read_bytes()


def test_sweep_on_ray_finds_the_smallest_epsilon(session):
    # Two arms 0.8 apart: epsilon-greedy's regret grows like epsilon * T * gap / 2, so the
    # smallest epsilon wins by a wide margin.
    cfg = parse_sweep({**GRID, "env": {"name": "bernoulli", "params": {"means": [0.1, 0.9]}}, "horizon": 600,
                       "backend": "ray", "policies": [{"name": "epsilon-greedy", "label": "eg"}],
                       "sweep": {"policy": "eg", "params": {"epsilon": [0.5, 0.03, 0.2, 1.0]}}})
    res = run_sweep(cfg, write=False, progress=False)
    assert res.best_params == {"epsilon": 0.03}
    local = run_sweep(parse_sweep({**cfg.experiment.model_dump(), "backend": "local",
                                   "sweep": cfg.sweep.model_dump()}), write=False, progress=False)
    assert res.trials == local.trials


def _policy():
    return EpsilonGreedy(n_arms=6, epsilon=0.3, seed=1)  # explores: the data depend on its seeding


def _assert_same(a, b):
    for f in ("obs", "actions", "rewards", "next_obs", "terminated", "truncated", "episode"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    for k in a.info:
        np.testing.assert_array_equal(a.info[k], b.info[k], err_msg=k)


def _vector_world():
    return gym.vector.SyncVectorEnv([lambda: ContextualBandit(n_arms=6, n_features=3, horizon=25, world_seed=2)] * 2)


@pytest.mark.parametrize("env", [{"name": "contextual", "params": {"n_arms": 6, "n_features": 3, "horizon": 40,
                                                                   "world_seed": 2}}, _vector_world],
                         ids=["gym-env", "vector-env"])
def test_rollout_workers_give_the_single_loop_data(session, env):
    seeds = [11, 12, 13, 14, 15]
    with RolloutWorkers(env, n_workers=0, info_keys=("expected_reward",)) as local:
        expected = local.collect(_policy(), seeds)
    with RolloutWorkers(env, n_workers=2, info_keys=("expected_reward",)) as workers:
        got = workers.collect(_policy(), seeds)
    assert expected.n_episodes == 5 and expected.n_steps == 5 * (40 if isinstance(env, dict) else 25)
    _assert_same(expected, got)
