"""Demo stage for ``recloop demo``: PPO learns CartPole-v1 in a small budget; its learning curve."""

from __future__ import annotations

import time
from pathlib import Path

STEPS = 25_000


def demo_stage(out_dir: Path, seed: int) -> list:
    from recloop.agents.deep import PPO, EvalCallback, ScalarLogger, evaluate_policy
    from recloop.agents.deep.plots import plot_learning_curve
    from recloop.experiment.section import Section

    out_dir = Path(out_dir)
    logger = ScalarLogger(out_dir / "deep_ppo_cartpole_scalars.csv")
    evals = EvalCallback("CartPole-v1", every=5000, episodes=10, seed=seed + 1000, stop_at=475.0)
    t0 = time.perf_counter()
    agent = PPO(seed=seed).learn("CartPole-v1", STEPS, callbacks=[logger, evals])
    seconds = time.perf_counter() - t0 - evals.eval_seconds
    figure = plot_learning_curve(logger, out_dir / "deep_ppo_cartpole.png", title="PPO on CartPole-v1", evals=evals.history)
    rows = [{"step": e.step, "eval mean return": round(e.mean_return, 1), "eval std": round(e.std_return, 1)}
            for e in evals.history]
    final = evaluate_policy(agent, "CartPole-v1", episodes=10, seed=seed + 2000)
    text = (f"PPO (clipped objective, GAE; zoo CartPole settings: 8 envs x 32 steps, 20 epochs) trained for "
            f"{agent.steps_:,} environment steps in {seconds:.1f} s of training on this machine, evaluated on 10 "
            f"greedy episodes every 5,000 steps. Final evaluation mean: {final.mean_return:.1f} (500 is the maximum). "
            "Training stops early once an evaluation reaches 475.")
    return [Section(title="Deep RL: PPO on CartPole-v1", text=text, rows=rows, images=[figure])]
