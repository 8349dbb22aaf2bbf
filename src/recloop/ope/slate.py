"""Slate estimators: a policy shows L items at once and the reward comes from the whole slate.

Weighting by whole slates (standard slate IPS) is unbiased but its weights
are products over L positions, so the variance explodes with L. The others
buy variance with an assumption about how the reward depends on the slate:

* independent IPS (position-wise, Li et al. 2018): each position's reward
  depends only on the item there -> sum_l w_l r_l;
* pseudo-inverse PI (Swaminathan et al., NeurIPS 2017): the slate reward is
  *additive* over positions -> r (sum_l w_l - L + 1) where w_l are ratios of
  per-position marginals; this is their closed form for logging policies that
  choose positions independently (product form);
* cascade DR (Kiyohara et al., WSDM 2022): the user scans top-down and
  position l's reward depends on items 1..l; weights are cumulative products,
  and a per-position reward model ``q_hat`` ``(n, L, K)`` is the control
  variate. ``q_hat=None`` gives reward-interaction IPS (RIPS).

Per-position probabilities are conditionals given the items above; for
product-form policies (our slate worlds) they equal the marginals.

Example:
    >>> import numpy as np
    >>> r = np.array([1.0, 0.0]); pb = np.array([[0.5], [0.5]]); pe = np.array([[1.0], [0.0]])
    >>> pseudo_inverse(r, pb, pe).value == slate_ips(r, pb[:, 0], pe[:, 0]).value
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recloop.ope.estimate import Estimate, WeightDiagnostics


def _check(name: str, arr: Any, shape: tuple, *, prob: bool = False, positive: bool = False) -> np.ndarray:
    x = np.asarray(arr, dtype=np.float64)
    if x.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, x.shape)):
        raise ValueError(f"{name} has shape {x.shape}; expected {tuple('?' if s is None else s for s in shape)}")
    if x.size == 0 or x.shape[0] == 0:
        raise ValueError(f"no logged slates: {name} is empty")
    if np.isnan(x).any():
        raise ValueError(f"{name} contains missing (NaN) values")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains infinite values")
    if positive and ((x <= 0) | (x > 1)).any():
        raise ValueError(f"{name} must lie in (0, 1] (a zero propensity means the slate could not have been logged)")
    if prob and ((x < 0) | (x > 1)).any():
        raise ValueError(f"{name} must lie in [0, 1]")
    return x


def slate_ips(rewards: Any, pscore: Any, target_pscore: Any, *, level: float = 0.95) -> Estimate:
    """Standard slate IPS: weight = pi_e(slate) / pi_b(slate) for the whole logged slate."""
    r = _check("rewards", rewards, (None,))
    n = len(r)
    p = _check("pscore", pscore, (n,), positive=True)
    pe = _check("target_pscore", target_pscore, (n,), prob=True)
    w = pe / p
    return Estimate.from_terms("slate_ips", w * r, level=level, diagnostics=WeightDiagnostics.of(w))


def independent_ips(position_rewards: Any, position_pscore: Any, target_position_probs: Any, *,
                    level: float = 0.95) -> Estimate:
    """Independent (position-wise) IPS: sum over positions of w_l r_l."""
    R = _check("position_rewards", position_rewards, (None, None))
    P = _check("position_pscore", position_pscore, R.shape, positive=True)
    E = _check("target_position_probs", target_position_probs, R.shape, prob=True)
    W = E / P
    return Estimate.from_terms("independent_ips", np.sum(W * R, axis=1), level=level,
                               diagnostics=WeightDiagnostics.of(W.ravel()))


def pseudo_inverse(rewards: Any, position_pscore: Any, target_position_probs: Any, *,
                   level: float = 0.95) -> Estimate:
    """Pseudo-inverse estimator (Swaminathan et al. 2017) for product-form logging policies.

    Unbiased when the expected slate reward is a sum of per-position terms;
    uses only the total reward. For a slate of one it is IPS.
    """
    r = _check("rewards", rewards, (None,))
    P = _check("position_pscore", position_pscore, (len(r), None), positive=True)
    E = _check("target_position_probs", target_position_probs, P.shape, prob=True)
    L = P.shape[1]
    g = np.sum(E / P, axis=1) - (L - 1)
    return Estimate.from_terms("pseudo_inverse", g * r, level=level, diagnostics=WeightDiagnostics.of(g))


def cascade_dr(position_rewards: Any, actions: Any, position_pscore: Any, target_probs: Any,
               q_hat: Any = None, *, level: float = 0.95) -> Estimate:
    """Cascade doubly robust (Kiyohara et al. 2022); reward-interaction IPS when ``q_hat`` is None.

    ``actions`` ``(n, L)`` logged item indices per position; ``target_probs``
    ``(n, L, K)`` the target's (conditional) distribution at each position;
    ``q_hat`` ``(n, L, K)`` the predicted reward at position l of each item.
    """
    R = _check("position_rewards", position_rewards, (None, None))
    n, L = R.shape
    P = _check("position_pscore", position_pscore, (n, L), positive=True)
    pi = _check("target_probs", target_probs, (n, L, None), prob=True)
    K = pi.shape[2]
    a = np.asarray(actions)
    if a.shape != (n, L) or a.dtype.kind not in "iu":
        raise ValueError(f"actions must be integer indices of shape ({n}, {L}), got {a.shape} {a.dtype}")
    if a.min() < 0 or a.max() >= K:
        raise ValueError(f"action index out of range 0..{K - 1} (unknown action)")
    q = np.zeros((n, L, K)) if q_hat is None else _check("q_hat", q_hat, (n, L, K))
    rows = np.arange(n)[:, None]
    cols = np.arange(L)[None, :]
    w_step = pi[rows, cols, a] / P
    w_cum = np.cumprod(w_step, axis=1)  # w_{1:l}
    w_prev = np.hstack([np.ones((n, 1)), w_cum[:, :-1]])  # w_{1:l-1}
    q_logged = q[rows, cols, a]
    baseline = np.sum(pi * q, axis=2)  # E_{a ~ pi_e at l}[q_hat_l(a)]
    terms = np.sum(w_cum * (R - q_logged) + w_prev * baseline, axis=1)
    name = "rips" if q_hat is None else "cascade_dr"
    return Estimate.from_terms(name, terms, level=level, diagnostics=WeightDiagnostics.of(w_cum[:, -1]))
