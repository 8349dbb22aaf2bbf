"""Uniform random choice: the baseline every policy must beat, and a safe logging policy."""

from __future__ import annotations

import numpy as np

from recloop.agents.bandits.mean_reward import SampleMeanBandit
from recloop.core.registry import register


@register("policy", "random", "uniform")
class UniformRandom(SampleMeanBandit):
    """Chooses uniformly among the candidates; propensity ``1 / n_candidates``.

    It still tracks sample means, so ``explore=False`` returns the best arm seen.

    Example:
        >>> UniformRandom(n_arms=4).probabilities().tolist()
        [0.25, 0.25, 0.25, 0.25]
    """

    def __init__(self, n_arms: int | None = None, *, seed: int | None = None):
        super().__init__(n_arms, seed=seed)

    def _scores(self, x, arms: np.ndarray) -> np.ndarray:
        return np.zeros(len(arms))

    def _probs(self, x, arms: np.ndarray) -> np.ndarray:
        return np.full(len(arms), 1.0 / len(arms))

    def _choose(self, x, arms: np.ndarray) -> int:
        return int(self.rng_.integers(len(arms)))
