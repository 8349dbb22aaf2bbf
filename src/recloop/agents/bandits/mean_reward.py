"""State shared by the sample-mean bandits: pull counts and reward sums per arm."""

from __future__ import annotations

import numpy as np

from recloop.agents.bandits.base import BanditPolicy


class SampleMeanBandit(BanditPolicy):
    """Keeps ``counts_`` and ``sums_`` per arm; the greedy score is the sample mean.

    Unplayed arms score ``+inf`` for exploitation too, so a fresh arm is tried
    before it is judged.
    """

    counts_: np.ndarray  # learned per-arm state, made by _new_arms
    sums_: np.ndarray

    def _new_arms(self, n: int) -> dict[str, np.ndarray]:
        return {"counts_": np.zeros(n), "sums_": np.zeros(n)}

    def _means(self, arms: np.ndarray) -> np.ndarray:
        counts = self.counts_[arms]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, self.sums_[arms] / np.maximum(counts, 1), np.inf)

    def _greedy_scores(self, x, arms: np.ndarray) -> np.ndarray:
        return self._means(arms)

    def _learn(self, arm: int, reward: float, x) -> None:
        self.counts_[arm] += 1.0
        self.sums_[arm] += reward

    def _learn_batch(self, arms, rewards, X) -> None:
        np.add.at(self.counts_, arms, 1.0)
        np.add.at(self.sums_, arms, rewards)
