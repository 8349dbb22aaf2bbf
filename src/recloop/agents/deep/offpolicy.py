"""The off-policy training loop shared by DQN, DDPG, TD3 and SAC.

act -> step every env copy -> store in replay -> every ``train_freq`` steps do
``gradient_steps`` updates on sampled batches. The agent supplies three
methods: ``explore_step(obs, step) -> (env_actions, stored_actions)``,
``train_step(batch) -> metrics`` and optionally ``after_env_step(step)``.
"""

from __future__ import annotations

from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from recloop.agents.deep.callbacks import Hooks, UpdateEnd
from recloop.agents.deep.environments import EnvRunner
from recloop.agents.deep.replay import ReplayBatch, ReplayBuffer


class OffPolicyLearner(Protocol):
    """What the loop needs from an agent: three documented steps, nothing private."""

    steps_: int

    def explore_step(self, obs: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Actions for a batch of observations: (what the envs receive, what the replay stores)."""

    def train_step(self, batch: ReplayBatch) -> dict[str, Any]:
        """One gradient update on a sampled batch; returns metrics (``losses/...``)."""

    def after_env_step(self, step: int) -> None:
        """Bookkeeping after every environment step (target-network sync, schedules)."""


def run_off_policy(agent: OffPolicyLearner, envs: list[gym.Env], total_steps: int, hooks: Hooks, seed: int | None,
                   buffer: ReplayBuffer, *, learning_starts: int, train_freq: int, gradient_steps: int,
                   batch_size: int) -> None:
    runner = EnvRunner(envs, seed)
    step = agent.steps_
    end = step + total_steps
    since_train = 0
    while step < end and not hooks.stop:
        obs = runner.obs
        env_actions, stored = agent.explore_step(obs, step)
        _, rewards, term, trunc, final_obs, finished = runner.step(env_actions)
        buffer.add(obs, stored, rewards, final_obs, term, trunc)
        step += runner.n
        agent.steps_ = step
        if finished:
            hooks.episodes_ended(step, *zip(*finished))
        if step >= learning_starts:
            since_train += runner.n
            while since_train >= train_freq:
                since_train -= train_freq
                for _ in range(gradient_steps):
                    metrics = agent.train_step(buffer.sample(batch_size))
                if hooks.callbacks:
                    hooks.emit(UpdateEnd(step, {k: float(v) for k, v in metrics.items()}))
        agent.after_env_step(step)
        hooks.progress(step, end, agent)
