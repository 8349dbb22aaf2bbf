"""Stable-Baselines3 side of benchmarks/cartpole_vs_sb3.py; runs inside .bench-venvs/sb3.

Trains SB3 DQN or PPO on CartPole-v1 with the rl-baselines3-zoo hyper-parameters,
evaluates 20 deterministic episodes every ``every`` steps (the time spent
evaluating is subtracted), stops at the first mean >= threshold, prints JSON.
"""

import argparse
import json
import time

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env


def linear(value):
    return lambda progress_remaining: progress_remaining * value  # the zoo's lin_<value>


# rl-baselines3-zoo hyperparams/{dqn,ppo}.yml, CartPole-v1
ZOO = {
    "dqn": dict(n_envs=1, n_timesteps=50_000, kwargs=dict(
        learning_rate=2.3e-3, batch_size=64, buffer_size=100_000, learning_starts=1000, gamma=0.99,
        target_update_interval=10, train_freq=256, gradient_steps=128, exploration_fraction=0.16,
        exploration_final_eps=0.04, policy_kwargs=dict(net_arch=[256, 256]))),
    "ppo": dict(n_envs=8, n_timesteps=100_000, kwargs=dict(
        n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0,
        learning_rate=linear(1e-3), clip_range=linear(0.2))),
}


def evaluate(model, episodes, seed):
    envs = [gym.make("CartPole-v1") for _ in range(episodes)]
    obs = np.stack([e.reset(seed=seed + i)[0] for i, e in enumerate(envs)])
    returns = np.zeros(episodes)
    live = np.ones(episodes, dtype=bool)
    while live.any():
        idx = np.flatnonzero(live)
        actions, _ = model.predict(obs[idx], deterministic=True)
        for j, i in enumerate(idx):
            o, r, term, trunc, _ = envs[i].step(int(actions[j]))
            returns[i] += r
            obs[i] = o
            if term or trunc:
                live[i] = False
    return float(returns.mean())


class EvalEvery(BaseCallback):
    def __init__(self, every, episodes, seed, threshold):
        super().__init__()
        self.every, self.episodes, self.seed, self.threshold = every, episodes, seed, threshold
        self.next = every
        self.eval_seconds = 0.0
        self.eval_cpu_seconds = 0.0
        self.history = []
        self.reached = None

    def _on_step(self):
        if self.num_timesteps < self.next:
            return True
        while self.next <= self.num_timesteps:
            self.next += self.every
        t0, c0 = time.perf_counter(), time.process_time()
        mean = evaluate(self.model, self.episodes, self.seed)
        self.eval_seconds += time.perf_counter() - t0
        self.eval_cpu_seconds += time.process_time() - c0
        self.history.append([int(self.num_timesteps), mean])
        if mean >= self.threshold:
            self.reached = int(self.num_timesteps)
            return False
        return True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--algo", choices=sorted(ZOO), required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--every", type=int, default=5000)
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--eval-seed", type=int, default=1000)
    p.add_argument("--threshold", type=float, default=475.0)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    cfg = ZOO[a.algo]
    env = make_vec_env("CartPole-v1", n_envs=cfg["n_envs"], seed=a.seed)
    cls = {"dqn": DQN, "ppo": PPO}[a.algo]
    model = cls("MlpPolicy", env, seed=a.seed, verbose=0, device="cpu", **cfg["kwargs"])
    cb = EvalEvery(a.every, a.episodes, a.eval_seed, a.threshold)
    t0, c0 = time.perf_counter(), time.process_time()
    model.learn(cfg["n_timesteps"], callback=cb)
    wall = time.perf_counter() - t0 - cb.eval_seconds
    cpu = time.process_time() - c0 - cb.eval_cpu_seconds
    print(json.dumps({"library": "sb3", "algo": a.algo, "seed": a.seed, "reached_step": cb.reached,
                      "train_seconds": wall, "train_cpu_seconds": cpu, "budget": cfg["n_timesteps"], "evals": cb.history}))


if __name__ == "__main__":
    main()
