"""Bandit worlds: simulated users whose tastes the policy must learn.

Each world knows its truth — ``expected_rewards(context)`` — so regret is exact.
An episode is ``horizon`` rounds (then ``truncated``); the observation is the
round's context (a constant zero vector for context-free worlds).

Example:
    >>> env = BernoulliBandit(means=[0.1, 0.9], horizon=5)
    >>> obs, info = env.reset(seed=0)
    >>> env.expected_rewards().tolist()
    [0.1, 0.9]
    >>> obs, reward, terminated, truncated, info = env.step(1)
    >>> reward in (0.0, 1.0), info["expected_reward"], info["optimal_reward"]
    (True, 0.9, 0.9)
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from recloop.core.registry import register
from recloop.core.seeding import as_generator


class _Bandit(gym.Env):
    """Shared episode mechanics; subclasses define the truth and how rewards are drawn."""

    metadata = {"render_modes": []}

    def __init__(self, n_arms: int, horizon: int, obs_dim: int = 1):
        if int(n_arms) != n_arms or n_arms < 2:
            raise ValueError(f"n_arms must be an integer >= 2, got {n_arms!r}")
        if int(horizon) != horizon or horizon < 1:
            raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
        self.n_arms = int(n_arms)
        self.horizon = int(horizon)
        self.action_space = spaces.Discrete(self.n_arms)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(obs_dim,), dtype=np.float64)
        self._t = 0
        self._rng = as_generator()

    # truth ---------------------------------------------------------------
    def expected_rewards(self, context: np.ndarray | None = None) -> np.ndarray:
        """Expected reward of every arm now (for the given context, if contextual)."""
        raise NotImplementedError

    def _draw(self, action: int) -> float:
        raise NotImplementedError

    def _observe(self) -> np.ndarray:
        return np.zeros(self.observation_space.shape, dtype=np.float64)

    def _on_reset(self, options: dict | None) -> None:
        pass

    def _advance(self) -> None:
        """Move the world one round on (drift); stationary worlds do nothing."""

    # gymnasium API -------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._rng = self.np_random
        self._t = 0
        self._on_reset(options)
        self._obs = self._observe()
        return self._obs.copy(), self._info()

    def _info(self) -> dict[str, Any]:
        return {"t": self._t}

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is not an arm of this bandit (0..{self.n_arms - 1})")
        action = int(action)
        truth = self.expected_rewards(self._obs)
        reward = float(self._draw(action))
        info = {"expected_reward": float(truth[action]), "optimal_reward": float(truth.max()),
                "optimal_action": int(truth.argmax())}
        self._t += 1
        self._advance()
        self._obs = self._observe()
        truncated = self._t >= self.horizon
        return self._obs.copy(), reward, False, truncated, info


def _means(means: Any, n_arms: int | None, rng: np.random.Generator, low: float, high: float) -> np.ndarray:
    if means is None:
        if n_arms is None:
            raise ValueError("give either means or n_arms")
        return rng.uniform(low, high, size=int(n_arms))
    m = np.asarray(means, dtype=np.float64)
    if m.ndim != 1 or m.size < 2:
        raise ValueError(f"means must be a list of at least 2 numbers, got shape {m.shape}")
    if n_arms is not None and n_arms != m.size:
        raise ValueError(f"n_arms={n_arms} but {m.size} means were given")
    if not np.isfinite(m).all():
        raise ValueError("means contain NaN or infinite values")
    return m


@register("env", "bernoulli", "bernoulli-bandit")
class BernoulliBandit(_Bandit):
    """Each arm clicks with a fixed probability (``means``, or drawn U(0,1) from ``world_seed``)."""

    def __init__(self, n_arms: int | None = None, means: Any = None, horizon: int = 1000, world_seed: int = 0):
        m = _means(means, n_arms, as_generator(world_seed), 0.0, 1.0)
        if (m < 0).any() or (m > 1).any():
            raise ValueError("Bernoulli means must lie in [0, 1]")
        super().__init__(m.size, horizon)
        self.means = m

    def expected_rewards(self, context=None) -> np.ndarray:
        return self.means.copy()

    def _draw(self, action: int) -> float:
        return float(self._rng.random() < self.means[action])


@register("env", "gaussian", "gaussian-bandit")
class GaussianBandit(_Bandit):
    """Rewards ~ N(mean_k, sigma^2); means given or drawn N(0, 1) from ``world_seed``."""

    def __init__(self, n_arms: int | None = None, means: Any = None, sigma: float = 1.0,
                 horizon: int = 1000, world_seed: int = 0):
        rng = as_generator(world_seed)
        m = rng.normal(size=int(n_arms)) if means is None and n_arms is not None else _means(means, n_arms, rng, 0, 1)
        if not sigma > 0:
            raise ValueError(f"sigma must be positive, got {sigma!r}")
        super().__init__(m.size, horizon)
        self.means = m
        self.sigma = float(sigma)

    def expected_rewards(self, context=None) -> np.ndarray:
        return self.means.copy()

    def _draw(self, action: int) -> float:
        return float(self.means[action] + self.sigma * self._rng.normal())


@register("env", "drifting", "drifting-bandit")
class DriftingBandit(_Bandit):
    """Non-stationary Bernoulli tastes.

    * ``change_every``: abrupt change points — every so many rounds all click
      probabilities are redrawn U(0, 1) (0 disables);
    * ``drift``: slow random-walk drift, ``p += N(0, drift^2)`` each round,
      reflected into [0, 1] (0 disables);
    * ``schedule``: scripted changes, ``[[round, [p_1, ..., p_K]], ...]`` — e.g. the
      long-time favourite going stale, the case where forgetting matters most.

    The world's own randomness (change points, drift) comes from the reset seed,
    so a seed fixes the whole history of tastes.
    """

    def __init__(self, n_arms: int = 5, horizon: int = 2000, change_every: int = 500,
                 drift: float = 0.0, means: Any = None, schedule: Any = None, world_seed: int = 0):
        if change_every < 0 or drift < 0:
            raise ValueError("change_every and drift must be >= 0")
        m = _means(means, None if means is not None else n_arms, as_generator(world_seed), 0.0, 1.0)
        super().__init__(m.size, horizon)
        self.initial_means = m
        self.change_every = int(change_every)
        self.drift = float(drift)
        self.schedule = self._check_schedule(schedule or [], m.size)
        self.means = m.copy()

    @staticmethod
    def _check_schedule(schedule: Any, n_arms: int) -> dict[int, np.ndarray]:
        out = {}
        for entry in schedule:
            if len(entry) != 2:
                raise ValueError(f"schedule entries are [round, means]; got {entry!r}")
            t, means = int(entry[0]), np.asarray(entry[1], dtype=np.float64)
            if t < 1 or means.shape != (n_arms,) or not ((means >= 0) & (means <= 1)).all():
                raise ValueError(f"schedule entry at round {entry[0]}: need round >= 1 and {n_arms} means in [0, 1]")
            out[t] = means
        return out

    def _on_reset(self, options):
        self.means = self.initial_means.copy()

    def expected_rewards(self, context=None) -> np.ndarray:
        return self.means.copy()

    def _draw(self, action: int) -> float:
        return float(self._rng.random() < self.means[action])

    def _advance(self) -> None:
        if self._t in self.schedule:
            self.means = self.schedule[self._t].copy()
        if self.change_every and self._t % self.change_every == 0:
            self.means = self._rng.uniform(0.0, 1.0, size=self.n_arms)
        if self.drift:
            p = self.means + self.drift * self._rng.normal(size=self.n_arms)
            p = np.abs(p)  # reflect at 0 and 1 so the walk stays a walk
            self.means = np.where(p > 1.0, 2.0 - p, p)


@register("env", "contextual", "contextual-bandit")
class ContextualBandit(_Bandit):
    """Users and items with feature vectors; clicks from a logistic (or linear) model.

    Each round a user ``x ~ N(0, I_d)`` arrives (the observation). Item ``k`` has a
    hidden vector ``theta_k ~ N(0, I/d)``; the click probability is
    ``sigmoid(scale * x.theta_k + bias)`` (``link="logistic"``) or
    ``clip(0.5 + 0.5 * x.theta_k, 0, 1)`` (``link="linear"``). With
    ``n_candidates`` set, only a random subset of items is eligible each round
    (``info["candidates"]``), as in a catalogue where not everything is in stock.
    """

    def __init__(self, n_arms: int = 20, n_features: int = 16, horizon: int = 2000, scale: float = 3.0,
                 bias: float = -1.0, link: str = "logistic", n_candidates: int | None = None,
                 world_seed: int = 0):
        if link not in ("logistic", "linear"):
            raise ValueError(f"link must be 'logistic' or 'linear', got {link!r}")
        if int(n_features) != n_features or n_features < 1:
            raise ValueError(f"n_features must be a positive integer, got {n_features!r}")
        if n_candidates is not None and not 1 <= n_candidates <= n_arms:
            raise ValueError(f"n_candidates must be between 1 and n_arms={n_arms}")
        super().__init__(n_arms, horizon, obs_dim=int(n_features))
        self.n_features = int(n_features)
        self.scale, self.bias, self.link = float(scale), float(bias), link
        self.n_candidates = n_candidates
        self.item_features = as_generator(world_seed).normal(
            0.0, 1.0 / np.sqrt(n_features), size=(self.n_arms, self.n_features))
        self._mask = np.ones(self.n_arms, dtype=bool)

    def expected_rewards(self, context: np.ndarray | None = None) -> np.ndarray:
        if context is None:
            raise ValueError("ContextualBandit.expected_rewards needs the context (user features)")
        z = self.item_features @ np.asarray(context, dtype=np.float64)
        if self.link == "logistic":
            p = 1.0 / (1.0 + np.exp(-(self.scale * z + self.bias)))
        else:
            p = np.clip(0.5 + 0.5 * z, 0.0, 1.0)
        if self.n_candidates is not None:
            p = np.where(self._mask, p, -np.inf)  # ineligible items can be neither chosen nor optimal
        return p

    def _observe(self) -> np.ndarray:
        if self.n_candidates is not None:
            self._mask = np.zeros(self.n_arms, dtype=bool)
            self._mask[self._rng.choice(self.n_arms, self.n_candidates, replace=False)] = True
        return self._rng.normal(size=self.n_features)

    def _info(self) -> dict[str, Any]:
        info = super()._info()
        if self.n_candidates is not None:
            info["candidates"] = np.flatnonzero(self._mask)
        return info

    def step(self, action):
        if self.n_candidates is not None and self.action_space.contains(action) and not self._mask[int(action)]:
            raise ValueError(f"arm {action} is not among this round's candidates {np.flatnonzero(self._mask)}")
        obs, reward, terminated, truncated, info = super().step(action)
        info.update(self._info())
        return obs, reward, terminated, truncated, info

    def _draw(self, action: int) -> float:
        p = self.expected_rewards(self._obs)[action]
        return float(self._rng.random() < p)
