"""Model-based estimators: the direct method and the doubly robust family.

Each takes the bandit arrays plus ``q_hat`` ``(n, K)``, a reward model's
prediction for every (event, action) pair (see
:func:`recloop.ope.reward_model.estimate_q`). With ``dm_i = sum_a pi(a|x_i)
q_hat(x_i, a)`` and ``w_i`` the importance weight of the logged action:

* DM      = mean(dm_i)
* DR      = mean(dm_i + w_i (r_i - q_hat_i))              (Dudik, Langford & Li 2011)
* SNDR    = mean(dm_i) + sum w_i (r_i - q_hat_i) / sum w_i
* Switch  = mean(dm_i + 1[w_i <= tau] w_i (r_i - q_hat_i)) (Wang, Agarwal & Dudik 2017)
* DRos    = DR with weights shrunk to lam w / (w^2 + lam)  (Su, Dimakopoulou, Krishnamurthy & Dudik 2020)

DR is unbiased whenever the propensities are right, whatever the model;
with an exact model it equals DM, with ``q_hat = 0`` it equals IPS.
Switch-DR and DRos trade that unbiasedness for variance; their threshold is
picked, when not given, by minimising a pessimistic estimate of the MSE
(upper confidence bound of the bias against DR, squared, plus variance),
after the bias-upper-bound tuning of Su et al. 2020.

Example:
    >>> import numpy as np
    >>> r = np.array([1.0, 0.0]); a = np.array([0, 1]); p = np.array([0.5, 0.5])
    >>> pi = np.array([[1.0, 0.0], [1.0, 0.0]]); q = np.array([[1.0, 0.0], [1.0, 0.0]])
    >>> dm(r, a, p, pi, q).value, dr(r, a, p, pi, q).value
    (1.0, 1.0)
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from recloop.ope.estimate import (
    Estimate, WeightDiagnostics, check_bandit, clip_weights, importance_weights, unsupported_mass,
)

#: Thresholds tried when Switch-DR / DRos pick their own (relative to nothing: weights are absolute).
DEFAULT_GRID = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 500.0, 1000.0, np.inf)


def _parts(rewards: Any, actions: Any, pscore: Any, target_probs: Any, q_hat: Any):
    r, a, p, pi, q = check_bandit(rewards, actions, pscore, target_probs, q_hat)
    if q is None:
        raise ValueError("q_hat (reward model predictions, shape (n, K)) is required")
    w = importance_weights(a, p, pi)
    dm_terms = np.sum(pi * q, axis=1)
    residual = r - q[np.arange(len(a)), a]
    return r, a, pi, w, dm_terms, residual


def dm(rewards: Any, actions: Any, pscore: Any, target_probs: Any, q_hat: Any, *, level: float = 0.95) -> Estimate:
    """Direct method: the reward model's value of the target policy (Beygelzimer & Langford 2009).

    Low variance, biased as far as the model is wrong. Its interval reflects
    only context sampling, not model error, so it under-covers when the model is off.
    """
    _, a, pi, w, dm_terms, _ = _parts(rewards, actions, pscore, target_probs, q_hat)
    diag = WeightDiagnostics.of(w, unsupported_mass=unsupported_mass(a, pi, warn=False))
    return Estimate.from_terms("dm", dm_terms, level=level, diagnostics=diag)


def dr(rewards: Any, actions: Any, pscore: Any, target_probs: Any, q_hat: Any, *,
       max_weight: float | None = None, level: float = 0.95) -> Estimate:
    """Doubly robust (Dudik, Langford & Li, ICML 2011); ``max_weight`` clips the weights."""
    _, a, pi, w, dm_terms, res = _parts(rewards, actions, pscore, target_probs, q_hat)
    w, clipped = clip_weights(w, max_weight)
    diag = WeightDiagnostics.of(w, clipped=clipped, unsupported_mass=unsupported_mass(a, pi))
    return Estimate.from_terms("dr" if max_weight is None else "clipped_dr", dm_terms + w * res,
                               level=level, diagnostics=diag)


def sndr(rewards: Any, actions: Any, pscore: Any, target_probs: Any, q_hat: Any, *, level: float = 0.95) -> Estimate:
    """Self-normalised DR: the correction term is a weighted mean of residuals."""
    _, a, pi, w, dm_terms, res = _parts(rewards, actions, pscore, target_probs, q_hat)
    diag = WeightDiagnostics.of(w, unsupported_mass=unsupported_mass(a, pi))
    mean_w = np.mean(w)
    if mean_w <= 0:
        return Estimate.from_terms("sndr", dm_terms, level=level, diagnostics=diag)
    corr = float(np.sum(w * res) / np.sum(w))
    value = float(np.mean(dm_terms)) + corr
    # delta method for the ratio: w (res - corr) / mean(w)
    terms = dm_terms + w * (res - corr) / mean_w + corr
    return Estimate.from_terms("sndr", terms, value=value, level=level, diagnostics=diag)


def _tuned(name: str, make_terms: Callable[[float], tuple[np.ndarray, np.ndarray]], dr_terms: np.ndarray,
           grid: Sequence[float]) -> tuple[float, np.ndarray, np.ndarray]:
    """Pick the grid value with least pessimistic MSE: (|bias| + se(bias))^2 + var(terms)/n.

    The bias against (unbiased) DR is estimated by mean(terms - dr_terms); its
    upper confidence bound, rather than the point estimate, keeps a noisy
    small-looking bias from talking the tuner into heavy shrinkage towards a
    wrong reward model (the bias-upper-bound idea of Su et al. 2020).
    """
    n = len(dr_terms)
    best = None
    for g in grid:
        terms, changed = make_terms(float(g))
        d = terms - dr_terms
        se_d = float(np.std(d, ddof=1) / np.sqrt(n)) if n > 1 else 0.0
        var = float(np.var(terms, ddof=1)) / n if n > 1 else 0.0
        mse = (abs(float(np.mean(d))) + se_d) ** 2 + var
        if best is None or mse < best[0] - 1e-15:
            best = (mse, float(g), terms, changed)
    assert best is not None, f"{name}: empty grid"
    return best[1], best[2], best[3]


def _select(param: str, value: float | None, make_terms: Callable[[float], tuple[np.ndarray, np.ndarray]],
            dr_terms: np.ndarray, grid: Sequence[float]) -> tuple[float, np.ndarray, np.ndarray]:
    """The given hyper-parameter (checked), or the tuned one when it is None."""
    if value is None:
        return _tuned(param, make_terms, dr_terms, grid)
    if not value >= 0:
        raise ValueError(f"{param} must be >= 0, got {value!r}")
    return (float(value), *make_terms(float(value)))


def switch_dr(rewards: Any, actions: Any, pscore: Any, target_probs: Any, q_hat: Any, *,
              tau: float | None = None, grid: Sequence[float] = DEFAULT_GRID, level: float = 0.95) -> Estimate:
    """Switch-DR (Wang, Agarwal & Dudik, ICML 2017): DR where w_i <= tau, the model alone elsewhere.

    ``tau=None`` picks tau from ``grid`` by estimated MSE; ``tau=inf`` is DR, ``tau=0`` is DM.
    """
    _, a, pi, w, dm_terms, res = _parts(rewards, actions, pscore, target_probs, q_hat)

    def terms_at(t: float) -> tuple[np.ndarray, np.ndarray]:
        keep = w <= t
        return dm_terms + np.where(keep, w * res, 0.0), ~keep

    tau, terms, switched = _select("tau", tau, terms_at, dm_terms + w * res, grid)
    diag = WeightDiagnostics.of(np.where(switched, 0.0, w), clipped=switched,
                                unsupported_mass=unsupported_mass(a, pi))
    return Estimate.from_terms("switch_dr", terms, level=level, diagnostics=diag)


def dr_os(rewards: Any, actions: Any, pscore: Any, target_probs: Any, q_hat: Any, *,
          lam: float | None = None, grid: Sequence[float] = DEFAULT_GRID, level: float = 0.95) -> Estimate:
    """DR with optimistic shrinkage (Su et al., ICML 2020): w -> lam w / (w^2 + lam).

    ``lam=None`` picks lam from ``grid`` by estimated MSE; ``lam=inf`` is DR, ``lam=0`` is DM.
    """
    _, a, pi, w, dm_terms, res = _parts(rewards, actions, pscore, target_probs, q_hat)

    def shrink(lm: float) -> np.ndarray:
        if np.isinf(lm):
            return w
        return lm * w / (w**2 + lm) if lm > 0 else np.zeros_like(w)

    def terms_at(lm: float) -> tuple[np.ndarray, np.ndarray]:
        ws = shrink(lm)
        return dm_terms + ws * res, ws < w - 1e-12

    lam, terms, shrunk = _select("lam", lam, terms_at, dm_terms + w * res, grid)
    diag = WeightDiagnostics.of(shrink(lam), clipped=shrunk, unsupported_mass=unsupported_mass(a, pi))
    return Estimate.from_terms("dr_os", terms, level=level, diagnostics=diag)
