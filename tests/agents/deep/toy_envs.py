"""Tiny deterministic worlds with known optimal returns, for learning tests."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class IdentityEnv(gym.Env):
    """Observe a one-hot target among ``n``; reward 1 for naming it. Optimal return = ``length``,
    random return = ``length / n``."""

    def __init__(self, n: int = 2, length: int = 10):
        self.n, self.length = n, length
        self.observation_space = spaces.Box(0.0, 1.0, (n,), np.float32)
        self.action_space = spaces.Discrete(n)

    def _obs(self) -> np.ndarray:
        return np.eye(self.n, dtype=np.float32)[self._target]

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        self._target = int(self.np_random.integers(self.n))
        return self._obs(), {}

    def step(self, action):
        reward = float(int(action) == self._target)
        self._t += 1
        self._target = int(self.np_random.integers(self.n))
        return self._obs(), reward, False, self._t >= self.length, {}


class ContinuousIdentityEnv(gym.Env):
    """Observe ``x`` in [-1, 1]; reward ``-(a - x)^2``. Optimal return = 0; acting 0 scores about
    ``-length / 3``."""

    def __init__(self, length: int = 10):
        self.length = length
        self.observation_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        self._x = self.np_random.uniform(-1, 1, 1).astype(np.float32)
        return self._x.copy(), {}

    def step(self, action):
        reward = -float((np.asarray(action, dtype=np.float32)[0] - self._x[0]) ** 2)
        self._t += 1
        self._x = self.np_random.uniform(-1, 1, 1).astype(np.float32)
        return self._x.copy(), reward, False, self._t >= self.length, {}


class RecallEnv(gym.Env):
    """Observe the last ``window`` tokens (one-hot rows, oldest first); reward 1 for naming the
    oldest. A sequence encoder must carry the first row through the later ones. Optimal return =
    ``length``, random return = ``length / n``."""

    def __init__(self, n: int = 3, window: int = 3, length: int = 10):
        self.n, self.window, self.length = n, window, length
        self.observation_space = spaces.Box(0.0, 1.0, (window, n), np.float32)
        self.action_space = spaces.Discrete(n)

    def _obs(self) -> np.ndarray:
        return np.eye(self.n, dtype=np.float32)[self._tokens]

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        self._tokens = self.np_random.integers(self.n, size=self.window)
        return self._obs(), {}

    def step(self, action):
        reward = float(int(action) == self._tokens[0])
        self._t += 1
        self._tokens = np.append(self._tokens[1:], self.np_random.integers(self.n))
        return self._obs(), reward, False, self._t >= self.length, {}
