"""Can these logs evaluate that policy? Overlap diagnostics and the support check.

Every weighting estimator (IPS, SNIPS, replay) needs *support*: wherever the
evaluated policy may act, the logging policy must have had a positive
probability of acting the same way. Where it had none, those estimators are
blind, however many events there are - not noisy, biased. Two things in the
logs reveal missing support without knowing the logging policy in full:

- actions (or item ids) the logs never show, yet the target puts mass on;
- events logged with propensity 1: the logging policy could take nothing else
  there (a deterministic policy with no exploration floor), so the target's mass
  on any other action at that event is unsupported.

:func:`overlap` reports that mass with the effective sample size (Kish) of the
importance weights; :func:`refused_estimators` says which estimators to refuse
when the mass exceeds a tolerance, and the remedy.

Example:
    >>> import numpy as np
    >>> from recloop.data.logs import LoggedFeedback
    >>> logs = LoggedFeedback.from_arrays(action=[0, 0, 1], reward=[1, 0, 1], propensity=[1.0, 1.0, 1.0])
    >>> ov = overlap(logs, np.array([[0.5, 0.5]] * 3))
    >>> round(ov.unsupported_mass, 3), ov.deterministic_share
    (0.5, 1.0)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from recloop.data.logs import LoggedFeedback

#: Estimators that see only the logged actions (no reward model to extrapolate with).
NEEDS_SUPPORT = ("replay", "ips", "snips", "clipped_ips")
REMEDY = ("log with an exploration floor so every candidate keeps a positive propensity (recloop serve "
          "--exploration 0.05, collect_logs(..., epsilon=0.05)), evaluate a policy closer to the logging one, "
          "or read DM/DR only as far as their reward model extrapolates; --allow-unsupported runs them anyway")


@dataclass(frozen=True, slots=True)
class Overlap:
    """How well the logs cover the evaluated policy."""

    n: int
    ess: float  # Kish effective sample size of the weights pi(a_i|x_i) / p_i
    ess_share: float  # ess / n
    max_weight: float
    unsupported_mass: float  # average target mass on actions the logs cannot support
    never_logged_mass: float  # ... of which on actions / items never logged at all
    deterministic_share: float  # share of events logged with propensity 1
    uniform_share: float = 1.0  # share of events logged with propensity 1 / (number of candidates)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def overlap(logs: LoggedFeedback, target_probs: Any) -> Overlap:
    """Overlap of the policy with probabilities ``target_probs`` ``(n, K)`` and the logs."""
    pi = np.asarray(target_probs, dtype=np.float64)
    if logs.is_slate:
        raise ValueError("overlap is for single-action logs")
    if pi.shape != (logs.n, logs.n_actions):
        raise ValueError(f"target_probs has shape {pi.shape}; these logs need {(logs.n, logs.n_actions)}")
    rows = np.arange(logs.n)
    w = pi[rows, logs.action] / logs.propensity
    s2 = float(np.sum(w * w))
    ess = float(np.sum(w) ** 2 / s2) if s2 > 0 else 0.0
    if logs.candidates is None:
        seen = np.bincount(logs.action, minlength=logs.n_actions) > 0
        unseen = np.broadcast_to(~seen, pi.shape)
    else:
        seen_ids = set(logs.chosen_items().tolist())
        assert logs.candidate_mask is not None  # LoggedFeedback keeps candidates and their mask together
        unseen = logs.candidate_mask & ~np.isin(logs.candidates, list(seen_ids))
    never = np.where(unseen, pi, 0.0).sum(axis=1)
    deterministic = logs.propensity >= 1.0
    width = logs.n_actions if logs.candidate_mask is None else logs.candidate_mask.sum(axis=1)
    uniform = np.isclose(logs.propensity, 1.0 / width, rtol=1e-6, atol=0.0)
    per_event = np.where(deterministic, 1.0 - pi[rows, logs.action], never)
    return Overlap(n=logs.n, ess=ess, ess_share=ess / logs.n, max_weight=float(w.max()),
                   unsupported_mass=float(per_event.mean()), never_logged_mass=float(never.mean()),
                   deterministic_share=float(deterministic.mean()), uniform_share=float(uniform.mean()))


def refused_estimators(ov: Overlap, estimators: Any, *, tol: float = 0.01) -> dict[str, str]:
    """``{estimator: reason}`` for each of ``estimators`` whose support condition fails.

    Replay (rejection sampling, Li et al. 2011) is unbiased only for uniformly random
    logs; on other logs it is refused whatever the overlap.
    """
    refused: dict[str, str] = {}
    if "replay" in estimators and ov.uniform_share < 1.0:
        refused["replay"] = (f"replay is unbiased only for uniformly random logs (Li et al. 2011); "
                             f"{1 - ov.uniform_share:.0%} of these events were not logged uniformly; "
                             "read IPS/SNIPS/DR instead")
    if ov.unsupported_mass <= tol:
        return refused
    why = (f"the evaluated policy puts {ov.unsupported_mass:.1%} of its mass where the logs have no support "
           f"({ov.never_logged_mass:.1%} on never-logged actions; {ov.deterministic_share:.0%} of events were "
           f"logged with propensity 1, i.e. by a policy that could do nothing else); remedy: {REMEDY}")
    return {**{name: why for name in estimators if name in NEEDS_SUPPORT}, **refused}
