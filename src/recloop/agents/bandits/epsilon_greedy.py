"""Epsilon-greedy: exploit the best sample mean, explore uniformly with probability epsilon."""

from __future__ import annotations

from typing import Any

import numpy as np

from recloop.agents.bandits.base import _argmax, _argmax_probs
from recloop.agents.bandits.mean_reward import SampleMeanBandit
from recloop.core.registry import register
from recloop.core.schedules import schedule


@register("policy", "epsilon-greedy", "egreedy", "epsilon_greedy")
class EpsilonGreedy(SampleMeanBandit):
    """Sutton & Barto (2018), section 2.2.

    ``epsilon`` is a number (constant) or a schedule over the number of rewards
    seen, e.g. ``{"kind": "inverse_time", "scale": 5}`` (the 1/t decay of Auer et
    al. 2002, under which regret is logarithmic) or ``{"kind": "linear", "start":
    1, "end": 0.01, "steps": 1000}``. Probabilities are exact:
    ``eps / n + (1 - eps) / n_best`` for each best arm.

    Example:
        >>> p = EpsilonGreedy(n_arms=4, epsilon=0.2, seed=0)
        >>> p.update(2, 1.0); p.update(0, 0.0); p.update(1, 0.0); p.update(3, 0.0)
        >>> p.probabilities().round(2).tolist()
        [0.05, 0.05, 0.85, 0.05]
    """

    def __init__(self, n_arms: int | None = None, *, epsilon: Any = 0.1, seed: int | None = None):
        self.epsilon = epsilon
        self._epsilon = schedule(epsilon)
        super().__init__(n_arms, seed=seed)

    def current_epsilon(self) -> float:
        eps = float(self._epsilon(self.t_))
        if not 0.0 <= eps <= 1.0:
            raise ValueError(f"epsilon schedule gave {eps}, outside [0, 1]")
        return eps

    def _scores(self, x, arms: np.ndarray) -> np.ndarray:
        return self._means(arms)

    def _probs(self, x, arms: np.ndarray) -> np.ndarray:
        eps = self.current_epsilon()
        return eps / len(arms) + (1.0 - eps) * _argmax_probs(self._means(arms))

    def _choose(self, x, arms: np.ndarray) -> int:
        if self.rng_.random() < self.current_epsilon():
            return int(self.rng_.integers(len(arms)))
        return _argmax(self._means(arms), self.rng_)
