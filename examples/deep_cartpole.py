"""Train PPO on CartPole-v1, evaluate it, save it, load it back, and act.

    python examples/deep_cartpole.py [--steps 30000]
"""

import argparse
import tempfile
from pathlib import Path

from recloop.agents.deep import PPO, DeepAgent, EvalCallback, ScalarLogger, evaluate_policy
from recloop.apps.deep_plots import plot_learning_curve

p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=30_000)
args = p.parse_args()

out = Path(tempfile.mkdtemp(prefix="recloop-deep-"))
logger = ScalarLogger(out / "scalars.csv")
evals = EvalCallback("CartPole-v1", every=5_000, episodes=10, stop_at=475)
agent = PPO(seed=0).learn("CartPole-v1", args.steps, callbacks=[logger, evals])

res = evaluate_policy(agent, "CartPole-v1", episodes=20, seed=123)
print(f"trained {agent.steps_} steps; greedy return {res.mean_return:.1f} +- {res.std_return:.1f}")

path = agent.save(out / "ppo.npz")
again = DeepAgent.load(path)          # no environment needed
obs = [0.01, -0.02, 0.03, 0.0]
assert again.act(obs, explore=False) == agent.act(obs, explore=False)
print("action probabilities:", again.probabilities(obs))
print("learning curve:", plot_learning_curve(logger, out / "curve.png", evals=evals.history))
