"""Demo stage for ``recloop demo``: PPO learns CartPole-v1 in a small budget, beside a random policy.

The learning shows in the table: the greedy policy is scored on 10 seeded
episodes every 2,500 steps, next to the return of uniformly random actions on
the same episodes (about 20; 500 is the maximum). Training stops at the first
evaluation of 475 or more, which PPO usually reaches within 15-30k steps.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

STEPS = 50_000
EVERY = 2_500


def random_policy_return(env_id: str, episodes: int, seed: int) -> float:
    """Mean return of uniformly random actions on the evaluation episodes' seeds."""
    import gymnasium as gym

    env = gym.make(env_id)
    env.action_space.seed(seed)
    total = 0.0
    for i in range(episodes):
        env.reset(seed=seed + i)
        done = False
        while not done:
            _, r, term, trunc, _ = env.step(env.action_space.sample())
            total += float(r)
            done = term or trunc
    return total / episodes


def demo_stage(out_dir: Path, seed: int) -> list:
    from recloop.agents.deep import PPO, EvalCallback, ScalarLogger, evaluate_policy
    from recloop.apps.deep_plots import plot_learning_curve
    from recloop.core.seeding import derive
    from recloop.experiment.section import Section

    out_dir = Path(out_dir)
    logger = ScalarLogger(out_dir / "deep_ppo_cartpole_scalars.csv")
    evals = EvalCallback("CartPole-v1", every=EVERY, episodes=10, seed=derive(seed, "eval"), stop_at=475.0)
    baseline = random_policy_return("CartPole-v1", 10, derive(seed, "eval"))
    t0 = time.perf_counter()
    agent = PPO(seed=seed).learn("CartPole-v1", STEPS, callbacks=[logger, evals])
    seconds = time.perf_counter() - t0 - evals.eval_seconds
    figure = plot_learning_curve(logger, out_dir / "deep_ppo_cartpole.png", title="PPO on CartPole-v1", evals=evals.history)
    rows = [{"step": 0, "eval mean return": round(baseline, 1), "policy": "uniformly random"}]
    rows += [{"step": e.step, "eval mean return": round(e.mean_return, 1), "eval std": round(e.std_return, 1),
              "policy": "PPO, greedy"} for e in evals.history]
    final = evaluate_policy(agent, "CartPole-v1", episodes=10, seed=seed + 2000)
    _, train_returns = logger.series("charts/episode_return")
    first, last = (float(np.mean(train_returns[:20])), float(np.mean(train_returns[-20:]))) \
        if len(train_returns) >= 20 else (float("nan"), float("nan"))
    text = (f"PPO (clipped objective, GAE; zoo CartPole settings: 8 envs x 32 steps, 20 epochs) trained for "
            f"{agent.steps_:,} environment steps in {seconds:.1f} s of training on this machine. Random actions "
            f"score {baseline:.1f} on the evaluation episodes; the greedy policy, scored on 10 episodes every "
            f"{EVERY:,} steps, climbs from there (table) and training stops once it reaches 475 (500 is the maximum). "
            f"Mean training-episode return: first 20 episodes {first:.1f}, last 20 {last:.1f}. "
            f"Final evaluation on 10 fresh episodes: {final.mean_return:.1f}.")
    return [Section(title="Deep RL: PPO learns CartPole-v1", text=text, rows=rows, images=[figure])]
