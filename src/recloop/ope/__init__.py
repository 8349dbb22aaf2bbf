"""Off-policy evaluation: estimate a policy's value from another policy's logs.

Pure functions over arrays (``rewards``, ``actions``, ``pscore``,
``target_probs`` and, for model-based estimators, ``q_hat``), each returning an
:class:`Estimate` with a normal interval and weight diagnostics;
:func:`bootstrap` gives percentile intervals for any of them, and
:func:`evaluate_all` runs them all on :class:`~recloop.data.logs.LoggedFeedback`.
"""

from recloop.ope.doubly_robust import dm, dr, dr_os, sndr, switch_dr
from recloop.ope.estimate import Estimate, UnsupportedActionWarning, WeightDiagnostics
from recloop.ope.intervals import bootstrap, bootstrap_mean, normal
from recloop.ope.overlap import Overlap, overlap, refused_estimators
from recloop.ope.reward_model import LogisticRegression, RidgeRegression, estimate_q, estimate_q_by_item
from recloop.ope.slate import cascade_dr, independent_ips, pseudo_inverse, slate_ips
from recloop.ope.suite import evaluate_all, on_sample_truth, target_probabilities
from recloop.ope.weighting import ips, replay, snips

__all__ = [
    "Estimate", "LogisticRegression", "Overlap", "overlap", "refused_estimators", "RidgeRegression", "UnsupportedActionWarning", "WeightDiagnostics",
    "bootstrap", "bootstrap_mean", "cascade_dr", "dm", "dr", "dr_os", "estimate_q", "estimate_q_by_item",
    "evaluate_all", "independent_ips", "ips", "normal", "on_sample_truth", "pseudo_inverse", "replay", "slate_ips",
    "sndr", "snips", "switch_dr", "target_probabilities",
]
