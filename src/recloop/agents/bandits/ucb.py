"""Upper-confidence-bound index policies: UCB1 and KL-UCB."""

from __future__ import annotations

import numpy as np

from recloop.agents.bandits.mean_reward import SampleMeanBandit
from recloop.core.registry import register


@register("policy", "ucb1", "ucb")
class UCB1(SampleMeanBandit):
    """UCB1 (Auer, Cesa-Bianchi & Fischer 2002): ``mean_k + c * sqrt(2 ln t / n_k)``.

    With rewards in [0, 1] and ``c = 1`` the regret is ``O(sum_k ln T / gap_k)``.
    Unplayed arms have an infinite index, so each is tried once first. The choice is
    deterministic given the state; ties are split evenly, and the probabilities say so.

    Example:
        >>> p = UCB1(n_arms=3)
        >>> p.probabilities().round(3).tolist()   # nothing played yet: all tied
        [0.333, 0.333, 0.333]
    """

    def __init__(self, n_arms: int | None = None, *, c: float = 1.0, seed: int | None = None):
        if not c >= 0:
            raise ValueError(f"c must be >= 0, got {c!r}")
        self.c = c
        super().__init__(n_arms, seed=seed)

    def _scores(self, x, arms: np.ndarray) -> np.ndarray:
        counts = self.counts_[arms]
        total = max(self.counts_.sum(), 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            bonus = self.c * np.sqrt(2.0 * np.log(total) / counts)
            return np.where(counts > 0, self.sums_[arms] / np.maximum(counts, 1) + bonus, np.inf)


def bernoulli_kl(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """KL divergence between Bernoulli(p) and Bernoulli(q), safe at 0 and 1."""
    eps = 1e-12
    p = np.clip(p, eps, 1 - eps)
    q = np.clip(q, eps, 1 - eps)
    return p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))


@register("policy", "kl-ucb", "klucb", "kl_ucb")
class KLUCB(SampleMeanBandit):
    """KL-UCB for rewards in [0, 1] (Garivier & Cappé 2011).

    Index: the largest ``q`` with ``n_k * kl(mean_k, q) <= ln t + c ln ln t``,
    found by bisection (vectorised over arms). Asymptotically optimal for
    Bernoulli arms (it matches the Lai-Robbins bound); ``c = 0`` is the setting
    the authors recommend in practice.
    """

    def __init__(self, n_arms: int | None = None, *, c: float = 0.0, precision: float = 1e-6,
                 seed: int | None = None):
        if not c >= 0:
            raise ValueError(f"c must be >= 0, got {c!r}")
        self.c = c
        self.precision = precision
        super().__init__(n_arms, seed=seed)

    def _scores(self, x, arms: np.ndarray) -> np.ndarray:
        counts = self.counts_[arms]
        played = counts > 0
        out = np.full(len(arms), np.inf)
        if not played.any():
            return out
        t = max(self.counts_.sum(), 2.0)
        budget = np.log(t) + self.c * np.log(max(np.log(t), 1e-12))
        n = counts[played]
        mean = np.clip(self.sums_[arms][played] / n, 0.0, 1.0)
        lo, hi = mean.copy(), np.ones_like(mean)
        while (hi - lo).max() > self.precision:
            mid = 0.5 * (lo + hi)
            ok = n * bernoulli_kl(mean, mid) <= budget
            lo = np.where(ok, mid, lo)
            hi = np.where(ok, hi, mid)
        out[played] = lo
        return out
