"""Softmax (Boltzmann) exploration over sample means."""

from __future__ import annotations

from typing import Any

import numpy as np

from recloop.agents.bandits.mean_reward import SampleMeanBandit
from recloop.core.registry import register
from recloop.core.schedules import schedule


@register("policy", "softmax", "boltzmann")
class Softmax(SampleMeanBandit):
    """Chooses arm ``k`` with probability proportional to ``exp(mean_k / temperature)``
    (Sutton & Barto 2018, section 2.8). Unplayed arms are tried first, uniformly.

    Example:
        >>> p = Softmax(n_arms=2, temperature=1.0)
        >>> p.update(0, 1.0); p.update(1, 0.0)
        >>> p.probabilities().round(3).tolist()
        [0.731, 0.269]
    """

    def __init__(self, n_arms: int | None = None, *, temperature: Any = 0.1, seed: int | None = None):
        self.temperature = temperature
        self._temperature = schedule(temperature)
        super().__init__(n_arms, seed=seed)

    def _scores(self, x, arms: np.ndarray) -> np.ndarray:
        return self._means(arms)

    def _probs(self, x, arms: np.ndarray) -> np.ndarray:
        means = self._means(arms)
        unplayed = np.isinf(means)
        if unplayed.any():
            return unplayed / unplayed.sum()
        tau = float(self._temperature(self.t_))
        if not tau > 0:
            raise ValueError(f"temperature must be positive, got {tau}")
        z = (means - means.max()) / tau  # shift for numerical stability
        w = np.exp(z)
        return w / w.sum()

    def _choose(self, x, arms: np.ndarray) -> int:
        p = self._probs(x, arms)
        return int(np.searchsorted(np.cumsum(p), self.rng_.random() * p.sum(), side="right").clip(0, len(p) - 1))
