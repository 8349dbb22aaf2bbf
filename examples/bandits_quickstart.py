"""Bandits in five minutes: a simulated population, three policies, exact regret.

    python examples/bandits_quickstart.py [--rounds 2000]
"""

import argparse

import numpy as np

from recloop.agents.bandits import LinUCB, ThompsonSampling, UniformRandom
from recloop.envs.bandits import ContextualBandit


def play(policy, env, seed):
    obs, _ = env.reset(seed=seed)
    regret = 0.0
    done = False
    while not done:
        action = policy.act(obs)
        next_obs, reward, _, done, info = env.step(action)
        policy.update(action, reward, obs)
        regret += info["optimal_reward"] - info["expected_reward"]
        obs = next_obs
    return regret


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2000)
    args = ap.parse_args()
    env = ContextualBandit(n_arms=10, n_features=8, horizon=args.rounds)
    for policy in (UniformRandom(n_arms=10, seed=0), ThompsonSampling(n_arms=10, seed=0),
                   LinUCB(n_arms=10, n_features=8, alpha=1.0, seed=0)):
        print(f"{type(policy).__name__:18s} regret after {args.rounds} rounds: {play(policy, env, seed=1):8.1f}")

    # The serving face: item ids in, a ranked list with propensities out.
    policy = LinUCB(n_features=8, seed=0)
    user = np.random.default_rng(0).normal(size=8)
    rec = policy.recommend(user, ["jazz", "rock", "folk", "news"], k=3)
    print("recommended", rec.items, "propensity of the shown item", rec.propensity)


if __name__ == "__main__":
    main()
