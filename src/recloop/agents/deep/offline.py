"""Logged transitions for offline RL: collect them from a behaviour policy, sample batches.

Offline RL learns from what a deployed policy logged, with no more interaction. In the
simulator that log is made by running a behaviour policy (e.g. the supervised recommender
with exploration) and keeping every ``(s, a, r, s', terminated)`` with the probability the
behaviour policy gave its action, so importance-weighted estimators can use the same file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import gymnasium as gym
import numpy as np

from recloop.agents.deep.replay import ReplayBatch
from recloop.core.seeding import as_generator

#: ``behaviour(obs, rng) -> (action, probability of that action)``
Behaviour = Callable[[np.ndarray, np.random.Generator], tuple[int, float]]


@dataclass(frozen=True, slots=True)
class Transitions:
    """One row per logged step. ``episodes`` numbers the episode each row belongs to;
    ``propensities`` is the behaviour policy's probability of the logged action."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    episodes: np.ndarray
    propensities: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.actions)
        for name in ("obs", "rewards", "next_obs", "terminated", "truncated", "episodes", "propensities"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Transitions.{name} has {len(getattr(self, name))} rows, actions has {n}")
        if n == 0:
            raise ValueError("no transitions")
        if np.any((self.propensities <= 0) | (self.propensities > 1)):
            raise ValueError("propensities must lie in (0, 1]")

    def __len__(self) -> int:
        return len(self.actions)

    def episode_returns(self) -> np.ndarray:
        """Undiscounted return of each logged episode (the behaviour policy's value, on-sample)."""
        return np.bincount(self.episodes, weights=self.rewards)


def collect_transitions(env: gym.Env, behaviour: Behaviour, episodes: int, *, seed: int = 0) -> Transitions:
    """Run ``behaviour`` in ``env`` for ``episodes`` episodes (seeds ``seed, seed+1, ...``) and log them."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {k: [] for k in Transitions.__slots__}
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        done = False
        while not done:
            action, prob = behaviour(obs, rng)
            nxt, reward, term, trunc, _ = env.step(action)
            for k, v in (("obs", obs), ("actions", action), ("rewards", reward), ("next_obs", nxt),
                         ("terminated", term), ("truncated", trunc), ("episodes", ep), ("propensities", prob)):
                rows[k].append(v)
            obs, done = nxt, term or trunc
    return Transitions(obs=np.asarray(rows["obs"], np.float32), actions=np.asarray(rows["actions"], np.int64),
                       rewards=np.asarray(rows["rewards"], np.float32), next_obs=np.asarray(rows["next_obs"], np.float32),
                       terminated=np.asarray(rows["terminated"], np.float32),
                       truncated=np.asarray(rows["truncated"], np.float32),
                       episodes=np.asarray(rows["episodes"], np.int64),
                       propensities=np.asarray(rows["propensities"], np.float64))


def sample_batch(data: Transitions, batch_size: int, gamma: float, rng: np.random.Generator) -> ReplayBatch:
    """A uniform one-step batch in the replay buffer's format (so a DQN update runs on it unchanged)."""
    idx = rng.integers(0, len(data), batch_size)
    ones = np.ones(batch_size, np.float32)
    return ReplayBatch(obs=data.obs[idx], actions=data.actions[idx], returns=data.rewards[idx],
                       next_obs=data.next_obs[idx], terminated=data.terminated[idx], discounts=gamma * ones,
                       weights=ones, indices=idx)


def spaces_of(data: Transitions, n_actions: int | None = None) -> tuple[gym.spaces.Box, gym.spaces.Discrete]:
    """Observation and action spaces an offline learner binds to (actions: 0..max logged, or ``n_actions``)."""
    n = int(data.actions.max()) + 1 if n_actions is None else int(n_actions)
    if data.actions.min() < 0 or data.actions.max() >= n:
        raise ValueError(f"logged actions must lie in 0..{n - 1}")
    return gym.spaces.Box(-np.inf, np.inf, data.obs.shape[1:], np.float32), gym.spaces.Discrete(n)


def start_offline(agent: Any, data: Transitions, gradient_steps: int, n_actions: int | None) -> np.random.Generator:
    """What every offline learner does first: check the step count, bind to the logs' spaces
    (once), and return the batch sampler's generator (the agent's seed)."""
    if gradient_steps < 1:
        raise ValueError(f"gradient_steps must be >= 1, got {gradient_steps}")
    if agent.spaces_ is None:
        agent._bind(*spaces_of(data, n_actions))
    return as_generator(agent.seed)
