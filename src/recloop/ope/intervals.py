"""Confidence intervals for any estimator: normal approximation and the percentile bootstrap.

Every :class:`~recloop.ope.estimate.Estimate` already carries the normal
interval (mean of per-event terms +- z * stderr; delta method for the
self-normalised ones). :func:`bootstrap` resamples events with replacement
and recomputes the estimator (Efron & Tibshirani 1993), which also captures
the non-linearity of SNIPS/SNDR and the tuning of Switch-DR/DRos. The reward
model is *not* refitted per resample (cheap, standard in OBP); model-fitting
variance is not in the interval.

Example:
    >>> import numpy as np
    >>> from recloop.ope.weighting import ips
    >>> rng = np.random.default_rng(0); n = 500
    >>> a = rng.integers(0, 2, n); r = (a == 0) * rng.random(n); p = np.full(n, 0.5)
    >>> pi = np.tile([1.0, 0.0], (n, 1))
    >>> est = bootstrap(ips, r, a, p, pi, n_boot=200, seed=0)
    >>> est.ci_method, est.ci_low < est.value < est.ci_high
    ('bootstrap', True)
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np
from scipy import stats

from recloop.core.seeding import as_generator
from recloop.ope.estimate import Estimate


def normal(estimate: Estimate, level: float = 0.95) -> Estimate:
    """The normal-approximation interval at ``level`` (value +- z * stderr)."""
    _check_level(level)
    z = stats.norm.ppf(0.5 + level / 2)
    return estimate.with_interval(estimate.value - z * estimate.stderr, estimate.value + z * estimate.stderr,
                                  "normal", level)


def bootstrap(estimator: Callable[..., Estimate], *arrays: Any, n_boot: int = 1000, level: float = 0.95,
              seed: Any = 0, **kwargs: Any) -> Estimate:
    """Percentile-bootstrap interval of ``estimator(*arrays, **kwargs)``.

    ``arrays`` are resampled together along their first axis (events);
    ``kwargs`` pass through unchanged.
    """
    _check_level(level)
    if int(n_boot) < 10:
        raise ValueError(f"n_boot must be at least 10, got {n_boot}")
    full = estimator(*arrays, **kwargs)
    arrs = [np.asarray(x) for x in arrays]
    n = len(arrs[0])
    if any(len(x) != n for x in arrs):
        raise ValueError(f"mismatched lengths: {[len(x) for x in arrs]}")
    rng = as_generator(seed)
    values = np.empty(int(n_boot))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the full-sample call already warned
        for b in range(int(n_boot)):
            idx = rng.integers(0, n, n)
            values[b] = estimator(*(x[idx] for x in arrs), **kwargs).value
    values = values[np.isfinite(values)]
    if values.size == 0:
        return full.with_interval(np.nan, np.nan, "bootstrap", level)
    lo, hi = np.quantile(values, [0.5 - level / 2, 0.5 + level / 2])
    return full.with_interval(lo, hi, "bootstrap", level)


def bootstrap_mean(numerator: Any, denominator: Any = None, *, n_boot: int = 1000, level: float = 0.95,
                   seed: Any = 0) -> tuple[float, float]:
    """Percentile-bootstrap interval of mean(numerator) (or of sum(numerator) / sum(denominator)),
    vectorised: the same statistic as :func:`bootstrap` of IPS/DR (a mean of per-event terms) or
    SNIPS (a ratio), at a fraction of the cost. Returns ``(low, high)``."""
    _check_level(level)
    num = np.asarray(numerator, dtype=np.float64)
    den = np.ones_like(num) if denominator is None else np.asarray(denominator, dtype=np.float64)
    n = len(num)
    if n == 0 or den.shape != num.shape:
        raise ValueError(f"need matching, non-empty arrays; got {num.shape} and {den.shape}")
    rng = as_generator(seed)
    values = []
    chunk = max(1, 2_000_000 // n)
    for start in range(0, int(n_boot), chunk):
        b = min(chunk, int(n_boot) - start)
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=b).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            values.append((counts @ num) / (counts @ den))
    v = np.concatenate(values)
    v = v[np.isfinite(v)]
    lo, hi = np.quantile(v, [0.5 - level / 2, 0.5 + level / 2])
    return float(lo), float(hi)


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
