"""Tabular RL in three steps: plan a maze, learn it, and learn a session recommender.

Run: python examples/tabular_tour.py [--steps N]
"""

import argparse

from recloop.agents.tabular import SARSA, QLearning, value_iteration
from recloop.envs.gridworld import Maze
from recloop.envs.tabular_reco import SessionRecommender

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=20_000)
args = parser.parse_args()

# 1. Plan: the model is known, so value iteration gives the optimum.
env = Maze("cliff")
plan = value_iteration(env.P, env.R, gamma=1.0)
print("optimal policy (value iteration):")
print("\n".join(env.arrow_grid(plan.policy)))

# 2. Learn from experience: Q-learning walks the edge, SARSA keeps away from it.
for cls in (QLearning, SARSA):
    agent = cls(env.n_states, env.n_actions, gamma=1.0, alpha=0.5, epsilon=0.1, seed=0)
    curve = agent.learn(env, total_steps=args.steps, seed=0)
    print(f"\n{cls.__name__}: mean return of the last 100 episodes {curve.returns[-100:].mean():.1f}")
    print("\n".join(env.arrow_grid(agent.greedy_policy())))

# 3. Recommend with state: (user segment, last click) beats one category for everyone.
reco = SessionRecommender()
category, bandit_clicks = reco.best_fixed_action()
agent = QLearning(reco.n_states, reco.n_actions, gamma=1.0, alpha=0.1, epsilon=0.1, seed=0)
agent.learn(reco, total_steps=args.steps, seed=0)
print(f"\nclicks per session: best global bandit (category {category}) {bandit_clicks:.2f}, "
      f"Q-learning {reco.expected_return(agent.greedy_policy()):.2f}, "
      f"optimal {reco.optimal().values @ reco.initial_distribution():.2f}")
