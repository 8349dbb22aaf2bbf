"""What every estimator returns, input checks shared by all of them, weight diagnostics.

An :class:`Estimate` carries the point value, its standard error (from the
per-event influence terms, so the normal-approximation interval costs nothing)
and the importance-weight diagnostics that tell whether to trust it: effective
sample size (Kish), largest weight, share of clipped weights, and the mass the
evaluated policy puts on actions the logs never show ("unsupported mass", where
no weighting estimator can see anything).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import stats


class UnsupportedActionWarning(UserWarning):
    """The evaluated policy puts mass on actions the logging policy never takes."""


@dataclass(frozen=True, slots=True)
class WeightDiagnostics:
    """How heavy-tailed the importance weights are (computed on the weights actually used)."""

    ess: float  # (sum w)^2 / sum w^2: events worth of information (Kish 1965)
    max_weight: float
    mean_weight: float  # ~1 when the policies overlap; far from 1 is a warning sign
    clipped_share: float  # share of events whose weight was clipped / switched / shrunk
    unsupported_mass: float  # average target mass on never-logged actions (NaN if unknown)

    @classmethod
    def of(cls, w: np.ndarray, *, clipped: np.ndarray | None = None, unsupported_mass: float = float("nan")) -> "WeightDiagnostics":
        s2 = float(np.sum(w * w))
        return cls(
            ess=float(np.sum(w) ** 2 / s2) if s2 > 0 else 0.0,
            max_weight=float(np.max(w)) if w.size else 0.0,
            mean_weight=float(np.mean(w)) if w.size else 0.0,
            clipped_share=0.0 if clipped is None else float(np.mean(clipped)),
            unsupported_mass=unsupported_mass,
        )


@dataclass(frozen=True, slots=True)
class Estimate:
    """An estimate of a policy's value with a standard error and diagnostics.

    ``ci_low``/``ci_high`` start as the normal-approximation interval at
    ``level``; :func:`recloop.ope.intervals.bootstrap` returns a copy with
    bootstrap bounds and ``ci_method="bootstrap"``.
    """

    estimator: str
    value: float
    stderr: float
    n: int
    ci_low: float
    ci_high: float
    level: float = 0.95
    ci_method: str = "normal"
    diagnostics: WeightDiagnostics | None = None

    @classmethod
    def from_terms(cls, estimator: str, terms: np.ndarray, *, value: float | None = None,
                   level: float = 0.95, diagnostics: WeightDiagnostics | None = None) -> "Estimate":
        """Value = mean of per-event terms (or ``value``); stderr = sd(terms)/sqrt(n).

        For ratio estimators pass the linearised terms (delta method) and the value.
        """
        n = len(terms)
        v = float(np.mean(terms)) if value is None else float(value)
        se = float(np.std(terms, ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
        z = stats.norm.ppf(0.5 + level / 2)
        return cls(estimator, v, se, n, v - z * se, v + z * se, level, "normal", diagnostics)

    def with_interval(self, low: float, high: float, method: str, level: float) -> "Estimate":
        return replace(self, ci_low=float(low), ci_high=float(high), ci_method=method, level=level)

    def as_row(self) -> dict[str, Any]:
        d = self.diagnostics
        row = {"estimator": self.estimator, "value": self.value, "stderr": self.stderr,
               "ci_low": self.ci_low, "ci_high": self.ci_high, "ci": f"{self.ci_method} {self.level:.0%}", "n": self.n}
        if d is not None:
            row.update(ess=d.ess, max_weight=d.max_weight, clipped_share=d.clipped_share, unsupported_mass=d.unsupported_mass)
        return row


# ---------------------------------------------------------------------- input checks
def check_bandit(rewards: Any, actions: Any, pscore: Any, target_probs: Any,
                 q_hat: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate and convert the arrays every bandit estimator takes.

    ``target_probs`` is ``(n, K)``: the evaluated policy's distribution over the
    ``K`` action indices of each event (zeros for non-candidates).
    Returns ``(r, a, p, pi, q)`` with ``q`` None when not given.
    """
    r = np.asarray(rewards, dtype=np.float64)
    a = np.asarray(actions)
    p = np.asarray(pscore, dtype=np.float64)
    pi = np.asarray(target_probs, dtype=np.float64)
    if r.ndim != 1:
        raise ValueError(f"rewards must be 1-d, got shape {r.shape}")
    n = len(r)
    if n == 0:
        raise ValueError("no logged events: rewards is empty")
    if a.shape != (n,) or p.shape != (n,):
        raise ValueError(f"mismatched lengths: rewards {r.shape}, actions {a.shape}, pscore {p.shape}")
    if pi.ndim != 2 or len(pi) != n:
        raise ValueError(f"target_probs must be (n_events, n_actions) = ({n}, K), got {pi.shape}")
    if a.dtype.kind not in "iu":
        raise TypeError(f"actions must be integer action indices, got dtype {a.dtype}")
    if a.min() < 0 or a.max() >= pi.shape[1]:
        raise ValueError(f"action index out of range 0..{pi.shape[1] - 1} (unknown action)")
    if np.isnan(p).any():
        raise ValueError(f"pscore is missing (NaN) for {int(np.isnan(p).sum())} events")
    if ((p <= 0) | (p > 1)).any():
        raise ValueError(f"pscore must lie in (0, 1]; got min {p.min()!r}, max {p.max()!r} "
                         "(a zero propensity means the logged action could not have been chosen)")
    if not np.isfinite(r).all():
        raise ValueError("rewards contain NaN or infinite values")
    if not np.isfinite(pi).all() or pi.min() < 0:
        raise ValueError("target_probs must be finite and non-negative")
    off = np.abs(pi.sum(axis=1) - 1.0)
    if off.max() > 1e-6:
        row = int(np.argmax(off))
        raise ValueError(f"target_probs rows must sum to 1 (row {row} sums to {pi[row].sum():.6f})")
    q = None
    if q_hat is not None:
        q = np.asarray(q_hat, dtype=np.float64)
        if q.shape != pi.shape:
            raise ValueError(f"q_hat has shape {q.shape}; expected {pi.shape} like target_probs")
        if not np.isfinite(q).all():
            raise ValueError("q_hat contains NaN or infinite values")
    return r, a.astype(np.int64), p, pi, q


def importance_weights(actions: np.ndarray, pscore: np.ndarray, target_probs: np.ndarray) -> np.ndarray:
    """w_i = pi_e(a_i | x_i) / pi_b(a_i | x_i)."""
    return target_probs[np.arange(len(actions)), actions] / pscore


def unsupported_mass(actions: np.ndarray, target_probs: np.ndarray, *, support: np.ndarray | None = None,
                     warn: bool = True) -> float:
    """Average mass the target puts on actions never logged (per action index over all events,
    or per event where ``support`` ``(n, K)`` says which actions the logging policy could take).

    Weighting estimators are blind to that mass; it is reported and warned about, not fatal.
    """
    if support is None:
        seen = np.bincount(actions, minlength=target_probs.shape[1]) > 0
        mass = float(target_probs[:, ~seen].sum() / len(target_probs)) if not seen.all() else 0.0
    else:
        mass = float(np.where(support, 0.0, target_probs).sum(axis=1).mean())
    if warn and mass > 1e-9:
        warnings.warn(f"the evaluated policy puts {mass:.1%} of its mass on actions never seen in the logs; "
                      "weighting estimators (IPS, SNIPS, replay) cannot see that part; trust DM/DR only as far as "
                      "their reward model extrapolates", UnsupportedActionWarning, stacklevel=3)
    return mass


def clip_weights(w: np.ndarray, max_weight: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Clip at ``max_weight`` (Ionides 2008; Strehl et al. 2010): less variance, some bias."""
    if max_weight is None:
        return w, np.zeros(len(w), dtype=bool)
    if not max_weight > 0:
        raise ValueError(f"max_weight must be positive, got {max_weight!r}")
    clipped = w > max_weight
    return np.minimum(w, max_weight), clipped
