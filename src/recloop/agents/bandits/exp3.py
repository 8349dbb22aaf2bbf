"""EXP3: exponential weights for adversarial bandits."""

from __future__ import annotations

import numpy as np

from recloop.agents.bandits.base import BanditPolicy
from recloop.core.registry import register


@register("policy", "exp3")
class EXP3(BanditPolicy):
    """EXP3 (Auer, Cesa-Bianchi, Freund & Schapire 2002), rewards in [0, 1].

    ``p_k = (1 - gamma) w_k / sum(w) + gamma / K``; the chosen arm's weight grows by
    ``exp(gamma * r / (p_k K))`` — an importance-weighted, unbiased reward estimate.
    Weights are kept in log space, so long runs never overflow. Probabilities are exact.

    Example:
        >>> p = EXP3(n_arms=2, gamma=0.1, seed=0)
        >>> p.probabilities().tolist()
        [0.5, 0.5]
    """

    def __init__(self, n_arms: int | None = None, *, gamma: float = 0.1, seed: int | None = None):
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {gamma!r}")
        self.gamma = gamma
        super().__init__(n_arms, seed=seed)

    def _new_arms(self, n: int) -> dict[str, np.ndarray]:
        return {"log_weights_": np.zeros(n)}

    def _probs(self, x, arms: np.ndarray) -> np.ndarray:
        lw = self.log_weights_[arms]
        w = np.exp(lw - lw.max())
        return (1.0 - self.gamma) * w / w.sum() + self.gamma / len(arms)

    def _scores(self, x, arms: np.ndarray) -> np.ndarray:
        return self.log_weights_[arms]

    def _choose(self, x, arms: np.ndarray) -> int:
        p = self._probs(x, arms)
        return int(min(np.searchsorted(np.cumsum(p), self.rng_.random()), len(p) - 1))

    def _learn(self, arm: int, reward: float, x) -> None:
        if not 0.0 <= reward <= 1.0:
            raise ValueError(f"EXP3 needs rewards in [0, 1], got {reward}")
        k = self.arms_
        p = self._probs(None, np.arange(k))[arm]
        self.log_weights_[arm] += self.gamma * reward / (p * k)
