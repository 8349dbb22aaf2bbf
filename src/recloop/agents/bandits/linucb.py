"""Linear contextual bandits with disjoint per-arm models: LinUCB and LinTS.

Each arm ``k`` keeps ridge-regression statistics ``A_k = lambda I + sum x x^T`` and
``b_k = sum r x``. We store ``A_k^{-1}`` directly and update it with the
Sherman-Morrison rank-1 formula, so a decision and an update cost O(K d^2) with
no matrix inversion on the serving path. Batched updates add all outer products
at once and re-invert, which gives exactly the same state as one-by-one updates.
"""

from __future__ import annotations

import math

import numpy as np

from recloop.agents.bandits.base import BanditPolicy, _argmax_probs, gaussian_argmax_probs
from recloop.core.registry import register


class _LinearArms(BanditPolicy):
    """Per-arm ridge statistics shared by LinUCB and LinTS."""

    n_features: int  # contextual: BanditPolicy.__init__ refuses n_features=None
    A_inv_: np.ndarray  # learned per-arm state, made by _new_arms
    b_: np.ndarray
    theta_: np.ndarray

    contextual = True

    def __init__(self, n_arms: int | None, n_features: int | None, l2: float, seed: int | None):
        if not l2 > 0:
            raise ValueError(f"l2 (ridge strength) must be positive, got {l2!r}")
        self.l2 = l2
        self._last_Ax: tuple[np.ndarray, np.ndarray] | None = None
        super().__init__(n_arms, n_features=n_features, seed=seed)

    def _new_arms(self, n: int) -> dict[str, np.ndarray]:
        d = self.n_features
        return {
            "A_inv_": np.tile(np.eye(d) / self.l2, (n, 1, 1)),
            "b_": np.zeros((n, d)),
            "theta_": np.zeros((n, d)),
        }

    def _stats(self, x: np.ndarray, arms: np.ndarray):
        """Mean estimate ``x.theta_k`` and width ``sqrt(x^T A_k^{-1} x)`` for each arm."""
        # All arms in natural order: skip the gather on the hot path. Every position must
        # match (not just the length and the last arm): [1, 0, 2] is all arms, reordered.
        if len(arms) == self.arms_ and (arms == np.arange(self.arms_)).all():
            A_inv, theta = self.A_inv_, self.theta_
        else:
            A_inv, theta = self.A_inv_[arms], self.theta_[arms]
        Ax = A_inv @ x
        return theta @ x, np.sqrt(np.maximum(Ax @ x, 0.0))

    def _greedy_scores(self, x, arms):
        return self._stats(x, arms)[0]

    def _learn(self, arm: int, reward: float, x: np.ndarray | None, Ax: np.ndarray | None = None) -> None:
        assert x is not None  # contextual: _context gives an array
        self._last_Ax = None
        A_inv = self.A_inv_[arm]
        if Ax is None:
            Ax = A_inv @ x
        A_inv -= np.outer(Ax, Ax) / (1.0 + x @ Ax)
        self.b_[arm] += reward * x
        self.theta_[arm] = A_inv @ self.b_[arm]

    def _learn_batch(self, arms: np.ndarray, rewards: np.ndarray, X: np.ndarray | None) -> None:
        assert X is not None  # contextual: _batch_context gives an array
        self._last_Ax = None
        # sort once so each arm's rows are one contiguous slice (no boolean mask per arm)
        order = np.argsort(arms, kind="stable")
        arms, X, rewards = arms[order], X[order], rewards[order]
        touched, starts = np.unique(arms, return_index=True)
        ends = np.r_[starts[1:], len(arms)]
        A = np.linalg.inv(self.A_inv_[touched])  # one batched LAPACK call each way
        for j, arm in enumerate(touched):
            Xa = X[starts[j]:ends[j]]
            A[j] += Xa.T @ Xa
            self.b_[arm] += rewards[starts[j]:ends[j]] @ Xa
        self.A_inv_[touched] = np.linalg.inv(A)
        self.theta_[touched] = np.einsum("kij,kj->ki", self.A_inv_[touched], self.b_[touched])

    def act_batch(self, obs_batch=None, *, n=None) -> np.ndarray:
        if self.exploration:
            return super().act_batch(obs_batch, n=n)
        X = self._batch_context(obs_batch)
        mean = X @ self.theta_.T  # (B, K)
        # x^T A_k^{-1} x for every (row, arm) without a Python loop
        quad = np.einsum("kbj,bj->bk", np.matmul(X[None], self.A_inv_), X)
        scores = self._batch_scores(mean, np.sqrt(np.maximum(quad, 0.0)))
        best = scores.max(axis=1, keepdims=True)
        ties = scores >= best
        return (ties * self.rng_.random(scores.shape)).argmax(axis=1)  # uniform among ties

    def _batch_scores(self, mean: np.ndarray, width: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # The serving pattern is one decision and one update per event. These two fast
    # paths keep every check but skip the generic plumbing; anything unusual
    # (candidates, greedy mode, Feedback records) goes the generic way.
    def act(self, obs=None, *, explore=True, candidates=None) -> int:
        if candidates is None and explore and type(obs) is np.ndarray and obs.shape == (self.n_features,) \
                and obs.dtype == np.float64 and self.arms_ and not self.exploration:
            if not np.isfinite(obs).all():
                raise ValueError("context contains NaN or infinite values")
            Ax = self.A_inv_ @ obs
            scores = self._batch_scores(self.theta_ @ obs, np.sqrt(np.abs(Ax @ obs)))
            i = int(scores.argmax())
            if np.count_nonzero(scores == scores[i]) > 1:
                i = int(self.rng_.choice(np.flatnonzero(scores == scores[i])))
            self._last_Ax = (obs, Ax)  # the update for this decision reuses A_k^{-1} x
            return i
        return super().act(obs, explore=explore, candidates=candidates)

    def update(self, action, reward=None, obs=None) -> None:
        if type(action) is int and reward is not None and type(obs) is np.ndarray and 0 <= action < self.arms_:
            r = float(reward)
            if not math.isfinite(r):
                raise ValueError(f"reward must be a finite number, got {reward!r}")
            last = self._last_Ax
            if last is not None and last[0] is obs:
                self._learn(action, r, obs, last[1][action])
            else:
                self._learn(action, r, self._context(obs))
            self.t_ += 1
            return
        super().update(action, reward, obs)


@register("policy", "linucb", "lin-ucb")
class LinUCB(_LinearArms):
    """LinUCB with disjoint linear models (Li, Chu, Langford & Schapire 2010, Algorithm 1).

    Score: ``x.theta_k + alpha * sqrt(x^T A_k^{-1} x)``; the choice is the argmax,
    so the probabilities are exact (uniform over ties).

    Example:
        >>> import numpy as np
        >>> p = LinUCB(n_arms=3, n_features=2, alpha=1.0, seed=0)
        >>> x = np.array([1.0, 0.0])
        >>> p.update(1, 1.0, x)
        >>> p.act(x, explore=False)
        1
    """

    def __init__(self, n_arms: int | None = None, *, n_features: int | None = None, alpha: float = 1.0,
                 l2: float = 1.0, seed: int | None = None):
        if not alpha >= 0:
            raise ValueError(f"alpha must be >= 0, got {alpha!r}")
        self.alpha = alpha
        super().__init__(n_arms, n_features, l2, seed)

    def _scores(self, x, arms):
        mean, width = self._stats(x, arms)
        return mean + self.alpha * width

    def _batch_scores(self, mean, width):
        return mean + self.alpha * width

    def _probs_and_greedy(self, x, arms):
        mean, width = self._stats(x, arms)
        return _argmax_probs(mean + self.alpha * width), mean


@register("policy", "lints", "lin-ts", "linear-thompson")
class LinTS(_LinearArms):
    """Linear Thompson sampling (Agrawal & Goyal 2013) with disjoint arm models.

    Draws ``theta_k ~ N(theta_hat_k, v^2 A_k^{-1})``; only ``x.theta_k`` matters for
    the choice, and it is ``N(x.theta_hat_k, v^2 x^T A_k^{-1} x)``, so we sample that
    scalar per arm — the same decision distribution at the cost of LinUCB, with no
    Cholesky factor per round. Probabilities are exact (Gauss-Hermite quadrature of
    the Gaussian argmax probability, :func:`~recloop.agents.bandits.base.gaussian_argmax_probs`)
    up to 64 candidates, Monte Carlo with a documented floor beyond.
    """

    def __init__(self, n_arms: int | None = None, *, n_features: int | None = None, v: float = 0.5,
                 l2: float = 1.0, propensity_samples: int = 2000, seed: int | None = None):
        if not v > 0:
            raise ValueError(f"v (posterior scale) must be positive, got {v!r}")
        self.v = v
        self.propensity_samples = propensity_samples
        super().__init__(n_arms, n_features, l2, seed)

    def _scores(self, x, arms):
        mean, width = self._stats(x, arms)
        return mean + self.v * width * self.rng_.standard_normal(len(arms))

    def _batch_scores(self, mean, width):
        return mean + self.v * width * self.rng_.standard_normal(mean.shape)

    def _probs(self, x, arms):
        mean, width = self._stats(x, arms)
        return gaussian_argmax_probs(mean, self.v * width, self.propensity_samples, self.rng_)
