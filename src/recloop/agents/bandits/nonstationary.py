"""Bandits for drifting tastes: forget the past on purpose.

Sliding-window UCB looks only at the last ``window`` rounds; discounted UCB and
discounted Thompson sampling weigh a reward ``t`` rounds old by ``discount**t``.
Garivier & Moulines (2011); Raj & Kalyani (2017).
"""

from __future__ import annotations

import numpy as np

from recloop.agents.bandits.base import BanditPolicy, monte_carlo_probs
from recloop.agents.bandits.mean_reward import SampleMeanBandit
from recloop.core.registry import register


def _ucb_scores(counts: np.ndarray, sums: np.ndarray, log_term: float, c: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        bonus = c * np.sqrt(log_term / counts)
        return np.where(counts > 1e-12, sums / np.maximum(counts, 1e-12) + bonus, np.inf)


@register("policy", "sliding-window-ucb", "sw-ucb", "sliding_window_ucb")
class SlidingWindowUCB(SampleMeanBandit):
    """SW-UCB: means and counts over the last ``window`` rewards only;
    index ``mean + c * sqrt(xi * ln(min(t, window)) / n)``."""

    def __init__(self, n_arms: int | None = None, *, window: int = 200, c: float = 1.0, xi: float = 0.6,
                 seed: int | None = None):
        if int(window) != window or window < 1:
            raise ValueError(f"window must be a positive integer, got {window!r}")
        self.window, self.c, self.xi = int(window), c, xi
        self.hist_arms_ = np.full(int(window), -1, dtype=np.int64)
        self.hist_rewards_ = np.zeros(int(window))
        self.pos_ = 0
        super().__init__(n_arms, seed=seed)

    def _scores(self, x, arms: np.ndarray) -> np.ndarray:
        log_term = self.xi * np.log(max(min(self.t_, self.window), 1))
        return _ucb_scores(self.counts_[arms], self.sums_[arms], log_term, self.c)

    def _learn(self, arm: int, reward: float, x) -> None:
        slot = self.pos_ % self.window
        self.pos_ += 1
        old = self.hist_arms_[slot]
        if old >= 0:  # the oldest reward leaves the window
            self.counts_[old] -= 1.0
            self.sums_[old] -= self.hist_rewards_[slot]
        self.hist_arms_[slot], self.hist_rewards_[slot] = arm, reward
        super()._learn(arm, reward, x)

    _learn_batch = BanditPolicy._learn_batch  # order matters: rewards enter the window one by one


@register("policy", "discounted-ucb", "d-ucb", "discounted_ucb")
class DiscountedUCB(SampleMeanBandit):
    """D-UCB: every round all counts and sums decay by ``discount``;
    index ``mean + c * sqrt(xi * ln(n) / n_k)`` with ``n`` the discounted total."""

    def __init__(self, n_arms: int | None = None, *, discount: float = 0.99, c: float = 1.0, xi: float = 0.6,
                 seed: int | None = None):
        if not 0.0 < discount <= 1.0:
            raise ValueError(f"discount must be in (0, 1], got {discount!r}")
        self.discount, self.c, self.xi = discount, c, xi
        super().__init__(n_arms, seed=seed)

    def _scores(self, x, arms: np.ndarray) -> np.ndarray:
        log_term = self.xi * np.log(max(self.counts_.sum(), 1.0))
        return _ucb_scores(self.counts_[arms], self.sums_[arms], log_term, self.c)

    def _greedy_scores(self, x, arms: np.ndarray) -> np.ndarray:
        c = self.counts_[arms]
        return np.where(c > 1e-12, self.sums_[arms] / np.maximum(c, 1e-12), np.inf)

    def _learn(self, arm: int, reward: float, x) -> None:
        self.counts_ *= self.discount
        self.sums_ *= self.discount
        super()._learn(arm, reward, x)

    _learn_batch = BanditPolicy._learn_batch  # each reward decays the ones before it


@register("policy", "discounted-thompson", "dts", "discounted_thompson")
class DiscountedThompsonSampling(BanditPolicy):
    """Discounted Thompson sampling for Bernoulli rewards (Raj & Kalyani 2017):
    success/failure counts of every arm decay by ``discount`` each round, so the
    posterior widens again for arms not played lately."""

    successes_: np.ndarray  # learned per-arm state, made by _new_arms
    failures_: np.ndarray

    def __init__(self, n_arms: int | None = None, *, discount: float = 0.99, alpha0: float = 1.0,
                 beta0: float = 1.0, propensity_samples: int = 2000, seed: int | None = None):
        if not 0.0 < discount <= 1.0:
            raise ValueError(f"discount must be in (0, 1], got {discount!r}")
        self.discount, self.alpha0, self.beta0 = discount, alpha0, beta0
        self.propensity_samples = propensity_samples
        super().__init__(n_arms, seed=seed)

    def _new_arms(self, n: int) -> dict[str, np.ndarray]:
        return {"successes_": np.zeros(n), "failures_": np.zeros(n)}

    def _sample(self, arms: np.ndarray, size: tuple[int, ...] = ()) -> np.ndarray:
        a = self.alpha0 + self.successes_[arms]
        b = self.beta0 + self.failures_[arms]
        return self.rng_.beta(a, b, size=(*size, len(arms)))

    def _scores(self, x, arms):
        return self._sample(arms)

    def _greedy_scores(self, x, arms):
        a = self.alpha0 + self.successes_[arms]
        return a / (a + self.beta0 + self.failures_[arms])

    def _probs(self, x, arms):
        return monte_carlo_probs(lambda m: self._sample(arms, (m,)), self.propensity_samples, len(arms), self.rng_)

    def _learn(self, arm: int, reward: float, x) -> None:
        if not 0.0 <= reward <= 1.0:
            raise ValueError(f"discounted Thompson sampling needs rewards in [0, 1], got {reward}")
        self.successes_ *= self.discount
        self.failures_ *= self.discount
        self.successes_[arm] += reward
        self.failures_[arm] += 1.0 - reward
