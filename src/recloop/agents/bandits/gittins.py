"""The Gittins index for Bernoulli arms with Beta posteriors, and the policy that plays it.

The index of a state (a, b) is the retirement reward ``lam`` at which a player
is indifferent between retiring (``lam / (1 - g)`` for ever) and playing the arm
optimally with the option to retire later (Gittins 1979). We compute it by
calibration: dynamic programming over the posterior states reachable in
``depth`` pulls, with bisection on ``lam``. Beyond the depth the arm is valued
as if its mean were frozen, an error of order ``g**depth / (1 - g)``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from recloop.agents.bandits.base import BanditPolicy
from recloop.core.registry import register


def _depth(discount: float, tol: float) -> int:
    return int(np.ceil(np.log(tol * (1.0 - discount)) / np.log(discount))) + 1


def _backward(a: float, b: float, discount: float, retire: np.ndarray, depth: int):
    """Backward induction over the posterior states reachable in ``depth`` pulls from
    Beta(a, b): yields ``(h, cont)`` for h = depth-1 .. 0, where ``cont[:, i]`` is the
    value of playing once more in state (a + i, b + h - i) under each retirement value."""
    g = discount
    p = (a + np.arange(depth + 1)) / (a + b + depth)
    v = np.maximum(retire, p[None, :] / (1.0 - g))  # beyond the depth: the mean, frozen
    for h in range(depth - 1, -1, -1):
        p = (a + np.arange(h + 1)) / (a + b + h)
        cont = p * (1.0 + g * v[:, 1:]) + (1.0 - p) * g * v[:, :-1]
        yield h, cont
        v = np.maximum(retire, cont)


def _continue_values(a: float, b: float, discount: float, lams: np.ndarray, depth: int) -> np.ndarray:
    """Value at the root of playing once, then optimally, for each retirement reward in ``lams``."""
    for h, cont in _backward(a, b, discount, lams[:, None] / (1.0 - discount), depth):
        if h == 0:
            return cont[:, 0]
    raise ValueError("depth must be at least 1")


@lru_cache(maxsize=100_000)
def gittins_index(a: float, b: float, discount: float = 0.9, tol: float = 1e-6) -> float:
    """Gittins index of a Bernoulli arm with a Beta(a, b) posterior, in reward units.

    Example:
        >>> round(gittins_index(1, 1, 0.9), 4)
        0.7029
        >>> round(gittins_index(2, 1, 0.9), 4), round(gittins_index(1, 2, 0.9), 4)
        (0.8001, 0.5001)
    """
    if not (a > 0 and b > 0):
        raise ValueError(f"Beta parameters must be positive, got a={a}, b={b}")
    if not 0.0 < discount < 1.0:
        raise ValueError(f"discount must be in (0, 1), got {discount}")
    depth = _depth(discount, tol)
    lo, hi = a / (a + b), 1.0  # the index is at least the mean and at most the best reward
    while hi - lo > tol:
        # multisection: 16 candidate values per DP sweep instead of one
        lams = np.linspace(lo, hi, 17)[1:-1]
        gap = _continue_values(a, b, discount, lams, depth) - lams / (1.0 - discount)
        above = gap > 0  # playing beats retiring at lam  =>  index > lam
        k = int(above.sum())  # gap decreases in lam, so the True values come first
        lo, hi = (lams[k - 1] if k else lo), (lams[k] if k < len(lams) else hi)
    return float(0.5 * (lo + hi))


@lru_cache(maxsize=16)
def gittins_table(alpha0: float, beta0: float, discount: float, max_pulls: int,
                  grid: int = 257, tol: float = 1e-4) -> np.ndarray:
    """Indices of all states ``(alpha0 + s, beta0 + f)`` with ``s + f <= max_pulls``.

    One DP per retirement value answers "is the index above it?" for every state
    at once (the optimal-stopping value of a state does not depend on where we
    started), so a grid of values swept together gives the whole table; the
    crossing is linearly interpolated between grid points (about 1e-3 accurate
    with the defaults; :func:`gittins_index` is the exact one). ``table[s, f]``.
    """
    depth = max_pulls + _depth(discount, tol)
    lams = np.linspace(0.0, 1.0, grid)
    retire = lams[:, None] / (1.0 - discount)
    table = np.full((max_pulls + 1, max_pulls + 1), np.nan)
    for h, cont in _backward(alpha0, beta0, discount, retire, depth):
        if h <= max_pulls:
            gap = cont - retire  # (grid, h+1), decreasing down each column
            k = (gap > 0).sum(axis=0).clip(1, grid - 1)
            cols = np.arange(h + 1)
            g0, g1 = gap[k - 1, cols], gap[k, cols]
            lam = lams[k - 1] + (lams[k] - lams[k - 1]) * g0 / np.where(g0 - g1 > 0, g0 - g1, 1.0)
            table[cols, h - cols] = lam
    return table


def brezzi_lai_index(a: np.ndarray, b: np.ndarray, discount: float) -> np.ndarray:
    """Brezzi & Lai (2002) closed-form approximation, used only far beyond the exact table,
    where the index is within a hair of the posterior mean."""
    n = a + b
    mu = a / n
    post_sd = np.sqrt(mu * (1 - mu) / (n + 1))
    s = 1.0 / ((n + 1) * -np.log(discount))
    big = np.maximum(s, 15.0)  # the last branch is only used (and only defined) for s > 15
    tail = np.sqrt(np.maximum(2 * np.log(big) - np.log(np.log(big)) - np.log(16 * np.pi), 0.0))
    psi = np.where(s <= 0.2, np.sqrt(s / 2), np.where(
        s <= 1, 0.49 - 0.11 / np.sqrt(s), np.where(
            s <= 5, 0.63 - 0.26 / np.sqrt(s), np.where(s <= 15, 0.77 - 0.58 / np.sqrt(s), tail))))
    return mu + post_sd * psi


@register("policy", "gittins", "gittins-index")
class GittinsIndex(BanditPolicy):
    """Plays the arm of highest Gittins index (Bernoulli rewards, Beta(alpha0, beta0) prior).

    Bayes-optimal for the discounted problem; on a finite horizon it is a strong
    index heuristic. States within ``table_pulls`` pulls use the exact table,
    beyond it the Brezzi-Lai approximation. Deterministic: probabilities are exact.
    """

    successes_: np.ndarray  # learned per-arm state, made by _new_arms
    failures_: np.ndarray

    def __init__(self, n_arms: int | None = None, *, discount: float = 0.99, alpha0: float = 1.0,
                 beta0: float = 1.0, table_pulls: int = 200, seed: int | None = None):
        if not 0.0 < discount < 1.0:
            raise ValueError(f"discount must be in (0, 1), got {discount}")
        self.discount, self.alpha0, self.beta0, self.table_pulls = discount, alpha0, beta0, table_pulls
        self._table: np.ndarray | None = None  # derived from the hyper-parameters, built on first use
        super().__init__(n_arms, seed=seed)

    def _new_arms(self, n: int) -> dict[str, np.ndarray]:
        return {"successes_": np.zeros(n), "failures_": np.zeros(n)}

    def _scores(self, x, arms: np.ndarray) -> np.ndarray:
        if self._table is None:
            self._table = gittins_table(self.alpha0, self.beta0, self.discount, self.table_pulls)
        table = self._table
        # counts are whole numbers: _learn accepts only 0/1 rewards
        s, f = self.successes_[arms].astype(np.int64), self.failures_[arms].astype(np.int64)
        inside = s + f <= self.table_pulls
        if inside.all():
            return table[s, f]
        out = np.empty(len(arms))
        out[inside] = table[s[inside], f[inside]]
        out[~inside] = brezzi_lai_index(self.alpha0 + s[~inside], self.beta0 + f[~inside], self.discount)
        return out

    def _greedy_scores(self, x, arms: np.ndarray) -> np.ndarray:
        a, b = self.alpha0 + self.successes_[arms], self.beta0 + self.failures_[arms]
        return a / (a + b)

    def _learn(self, arm: int, reward: float, x) -> None:
        if reward not in (0.0, 1.0):
            raise ValueError(f"GittinsIndex models Bernoulli arms: rewards must be 0 or 1, got {reward}")
        self.successes_[arm] += reward
        self.failures_[arm] += 1.0 - reward
