"""Thompson sampling: choose by a draw from the posterior of each arm's mean."""

from __future__ import annotations

import numpy as np

from recloop.agents.bandits.base import BanditPolicy, gaussian_argmax_probs, monte_carlo_probs
from recloop.core.registry import register


@register("policy", "thompson", "thompson-sampling", "ts")
class ThompsonSampling(BanditPolicy):
    """Thompson (1933); analysed by Agrawal & Goyal (2012).

    ``likelihood="bernoulli"``: Beta(alpha0 + successes, beta0 + failures)
    posteriors for rewards in [0, 1] (fractional rewards update both counts, as
    Agrawal & Goyal's Bernoulli trick would in expectation).
    ``likelihood="gaussian"``: Normal posterior for the mean with known noise
    ``sigma`` and prior N(0, prior_var).

    Choice probabilities: exact for Gaussian posteriors (one-dimensional quadrature,
    :func:`~recloop.agents.bandits.base.gaussian_argmax_probs`); for Beta posteriors
    :meth:`probabilities` estimates them from ``propensity_samples`` draws with a
    floor of ``0.5 / (propensity_samples + 0.5 K)`` per arm (never 0,
    :func:`~recloop.agents.bandits.base.monte_carlo_probs`), and ``recommend`` samples
    the shown item from that same estimate so the logged propensity is exact.
    """

    # learned per-arm state (made by _new_arms; which pair depends on the likelihood)
    a_: np.ndarray
    b_: np.ndarray
    precision_: np.ndarray
    weighted_sum_: np.ndarray

    def __init__(self, n_arms: int | None = None, *, likelihood: str = "bernoulli", alpha0: float = 1.0,
                 beta0: float = 1.0, sigma: float = 1.0, prior_var: float = 1.0,
                 propensity_samples: int = 2000, seed: int | None = None):
        if likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {likelihood!r}")
        if min(alpha0, beta0, sigma, prior_var) <= 0:
            raise ValueError("alpha0, beta0, sigma and prior_var must be positive")
        self.likelihood = likelihood
        self.alpha0, self.beta0 = alpha0, beta0
        self.sigma, self.prior_var = sigma, prior_var
        self.propensity_samples = propensity_samples
        super().__init__(n_arms, seed=seed)

    def _new_arms(self, n: int) -> dict[str, np.ndarray]:
        if self.likelihood == "bernoulli":
            return {"a_": np.full(n, float(self.alpha0)), "b_": np.full(n, float(self.beta0))}
        return {"precision_": np.full(n, 1.0 / self.prior_var), "weighted_sum_": np.zeros(n)}

    def _posterior(self, arms: np.ndarray):
        if self.likelihood == "bernoulli":
            return self.a_[arms], self.b_[arms]
        prec = self.precision_[arms]
        return self.weighted_sum_[arms] / prec, 1.0 / np.sqrt(prec)

    def _sample(self, arms: np.ndarray, size: tuple[int, ...] = ()) -> np.ndarray:
        p1, p2 = self._posterior(arms)
        if self.likelihood == "bernoulli":
            return self.rng_.beta(p1, p2, size=(*size, len(arms)))
        return p1 + p2 * self.rng_.standard_normal(size=(*size, len(arms)))

    def _scores(self, x, arms: np.ndarray) -> np.ndarray:
        return self._sample(arms)

    def _greedy_scores(self, x, arms: np.ndarray) -> np.ndarray:
        p1, p2 = self._posterior(arms)
        return p1 / (p1 + p2) if self.likelihood == "bernoulli" else p1

    def _probs(self, x, arms: np.ndarray) -> np.ndarray:
        if self.likelihood == "gaussian":
            mean, sd = self._posterior(arms)
            return gaussian_argmax_probs(mean, sd, self.propensity_samples, self.rng_)
        return monte_carlo_probs(lambda m: self._sample(arms, (m,)), self.propensity_samples, len(arms), self.rng_)

    def _learn(self, arm: int, reward: float, x) -> None:
        if self.likelihood == "bernoulli":
            if not 0.0 <= reward <= 1.0:
                raise ValueError(f"Bernoulli Thompson sampling needs rewards in [0, 1], got {reward}")
            self.a_[arm] += reward
            self.b_[arm] += 1.0 - reward
        else:
            self.precision_[arm] += 1.0 / self.sigma**2
            self.weighted_sum_[arm] += reward / self.sigma**2
