"""Scale-out tour on a local Ray instance: a grid as Ray tasks, a sweep, and parallel rollouts.

    python examples/scale_tour.py            # ~30-60 s, most of it starting Ray

Everything here runs unchanged on a cluster: pass address="auto" (or
"ray://head:10001") to ray_session, or --address to the CLI commands.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from recloop.agents.bandits import LinUCB  # noqa: E402
from recloop.experiment.config import parse_config  # noqa: E402
from recloop.experiment.ray_backend import ray_session  # noqa: E402
from recloop.experiment.rollouts import RolloutWorkers, learn_in_rounds  # noqa: E402
from recloop.experiment.run import run_experiment  # noqa: E402
from recloop.experiment.sweep import parse_sweep, run_sweep  # noqa: E402

WORLD = {"name": "contextual", "params": {"n_arms": 10, "n_features": 8, "world_seed": 11}}


def main(horizon: int = 400, seeds: int = 2) -> None:
    grid = {"name": "tour", "env": WORLD, "horizon": horizon, "seeds": seeds, "backend": "ray",
            "policies": [{"name": "random"}, {"name": "linucb"}, {"name": "lints"}]}
    with ray_session():  # one Ray start for the whole tour; every step below reuses it
        # 1. an experiment grid as Ray tasks, same table as the local backend
        on_ray = run_experiment(parse_config(grid), write=False, progress=False)
        local = run_experiment(parse_config({**grid, "backend": "local"}), write=False, progress=False)
        print("grid on Ray == local:", on_ray.table.equals(local.table))
        for row in on_ray.summary:
            print(f"  {row['policy']:8s} regret {row['regret']:7.1f}  oracle share {row['oracle_share']:.1%}")

        # 2. a sweep of LinUCB's alpha, all settings x seeds as one batch of Ray tasks
        sweep = parse_sweep({**grid, "sweep": {"policy": "linucb", "params": {"alpha": [0.1, 0.5, 2.0]}}})
        result = run_sweep(sweep, write=False, progress=False)
        print("sweep best:", result.best_params, f"regret {result.best['regret']:.1f}")

        # 3. two rollout actors feeding a batched LinUCB learner
        policy = LinUCB(n_arms=10, n_features=8, alpha=1.0, seed=0)
        env = {"name": "contextual", "params": {**WORLD["params"], "horizon": 100}}
        with RolloutWorkers(env, n_workers=2, info_keys=("expected_reward", "optimal_reward")) as workers:
            for r, batch in enumerate(learn_in_rounds(policy, workers, rounds=3, episodes=4, seed=0)):
                share = batch.info["expected_reward"].sum() / batch.info["optimal_reward"].sum()
                print(f"rollout round {r}: {batch.n_episodes} episodes, {batch.n_steps} steps, oracle share {share:.1%}")


if __name__ == "__main__":
    main()
