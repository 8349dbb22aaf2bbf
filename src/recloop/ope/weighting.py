"""Estimators that reweight logged rewards: replay, IPS (with clipping), SNIPS.

All take the logged ``rewards``, ``actions`` (dense indices), the logging
policy's ``pscore`` of each logged action, and the evaluated policy's
``target_probs`` ``(n, K)``. They are unbiased (IPS, replay) or consistent
(SNIPS) when the logging policy gives every action the target may take a
positive probability.

Example:
    >>> import numpy as np
    >>> r = np.array([1.0, 0.0, 1.0, 0.0]); a = np.array([0, 1, 0, 1]); p = np.full(4, 0.5)
    >>> pi = np.tile([1.0, 0.0], (4, 1))          # always play action 0
    >>> round(ips(r, a, p, pi).value, 3), round(snips(r, a, p, pi).value, 3)
    (1.0, 1.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recloop.core.seeding import as_generator
from recloop.ope.estimate import (
    Estimate, WeightDiagnostics, check_bandit, clip_weights, importance_weights, unsupported_mass,
)


def ips(rewards: Any, actions: Any, pscore: Any, target_probs: Any, *, max_weight: float | None = None,
        level: float = 0.95) -> Estimate:
    """Inverse propensity scoring (Horvitz & Thompson 1952): mean of w_i r_i.

    ``max_weight`` clips the weights (biased towards zero for non-negative
    rewards, lower variance); ``None`` keeps IPS unbiased.
    """
    r, a, p, pi, _ = check_bandit(rewards, actions, pscore, target_probs)
    w, clipped = clip_weights(importance_weights(a, p, pi), max_weight)
    diag = WeightDiagnostics.of(w, clipped=clipped, unsupported_mass=unsupported_mass(a, pi))
    return Estimate.from_terms("ips" if max_weight is None else "clipped_ips", w * r, level=level, diagnostics=diag)


def snips(rewards: Any, actions: Any, pscore: Any, target_probs: Any, *, level: float = 0.95) -> Estimate:
    """Self-normalised IPS (Swaminathan & Joachims 2015): sum w r / sum w.

    Bounded by the reward range and far less variable than IPS when weights
    are heavy-tailed; biased by O(1/n). Its stderr uses the delta method:
    terms w_i (r_i - V) / mean(w).
    """
    r, a, p, pi, _ = check_bandit(rewards, actions, pscore, target_probs)
    w = importance_weights(a, p, pi)
    diag = WeightDiagnostics.of(w, unsupported_mass=unsupported_mass(a, pi))
    total = w.sum()
    if total <= 0:
        # The target never agrees with a logged action: nothing to average.
        return Estimate("snips", float("nan"), float("nan"), len(r), float("nan"), float("nan"), level, "normal", diag)
    value = float(np.sum(w * r) / total)
    return Estimate.from_terms("snips", w * (r - value) / np.mean(w) + value, value=value, level=level, diagnostics=diag)


def replay(rewards: Any, actions: Any, pscore: Any, target_probs: Any, *, seed: Any = 0,
           level: float = 0.95) -> Estimate:
    """Replay / rejection sampling (Li, Chu, Langford & Wang, WSDM 2011).

    Keep event i with probability w_i / max_j w_j and average the kept rewards.
    Under uniform-random logging and a deterministic target this is exactly
    Li et al.'s replay (keep the events where the target agrees with the log);
    the acceptance rule generalises it to any logging policy. Kept events are
    a sample from the target's distribution, so the value is unbiased given
    the number kept; the interval is that of a sample mean.
    """
    r, a, p, pi, _ = check_bandit(rewards, actions, pscore, target_probs)
    w = importance_weights(a, p, pi)
    diag = WeightDiagnostics.of(w, unsupported_mass=unsupported_mass(a, pi))
    rng = as_generator(seed)
    top = w.max()
    keep = rng.random(len(w)) < (w / top if top > 0 else np.zeros_like(w))
    if keep.sum() < 2:
        return Estimate("replay", float("nan") if not keep.any() else float(r[keep][0]), float("nan"),
                        int(keep.sum()), float("nan"), float("nan"), level, "normal", diag)
    return Estimate.from_terms("replay", r[keep], level=level, diagnostics=diag)
