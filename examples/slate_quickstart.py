"""Slate recommendation in a few lines: a vectorised RecSim user simulator and SlateQ.

    python examples/slate_quickstart.py [--steps 20000]
"""

import argparse

import torch

from recloop.agents.slate import MyopicGreedy, RandomSlate, SlateQ, evaluate, train
from recloop.envs.slate import InterestEvolutionVectorEnv

ap = argparse.ArgumentParser()
ap.add_argument("--steps", type=int, default=20_000)
ap.add_argument("--eval-users", type=int, default=500)
args = ap.parse_args()
torch.set_num_threads(1)

env = InterestEvolutionVectorEnv(32)                  # 32 users stepped together
fresh_users = lambda n: InterestEvolutionVectorEnv(n, autoreset=False)

slateq = SlateQ.for_env(env, seed=0, epsilon_decay_steps=args.steps // 3, learning_starts=2_000)
train(slateq, env, args.steps, seed=0)
myopic = MyopicGreedy.for_env(env, seed=0, epsilon_decay_steps=args.steps // 3, learning_starts=2_000)
train(myopic, env, args.steps, seed=0)

for name, policy in [("slateq", slateq), ("myopic", myopic), ("random", RandomSlate(10, 2, seed=0))]:
    returns = evaluate(policy, fresh_users, num_users=args.eval_users, seed=123)
    print(f"{name:8s} {returns.mean():7.1f} ± {returns.std() / len(returns) ** 0.5:.1f}")

# every decision comes with its propensity, ready for logging and off-policy evaluation
obs, _ = env.reset(seed=1)
decision = slateq.select(obs)
print(decision.slates[:3], decision.propensities[:3])
