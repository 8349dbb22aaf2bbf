"""Run every estimator on one set of logs: the table behind ``recloop evaluate``.

:func:`evaluate_all` takes :class:`~recloop.data.logs.LoggedFeedback` and the
evaluated policy's probabilities, fits the reward model once, and returns one
:class:`~recloop.ope.estimate.Estimate` per estimator (slate estimators for
slate logs). ``truth`` (from the logs' ``expected_rewards``) is the on-sample
value when a simulator recorded it.

Example:
    >>> from recloop.ope.synthetic import ContextualWorld, softmax_policy
    >>> world = ContextualWorld(n_actions=3, n_features=2, seed=0)
    >>> logs = world.logs(softmax_policy(world, temperature=1.0), 2000, seed=1)
    >>> target = softmax_policy(world, temperature=0.2)(logs.context)
    >>> [e.estimator for e in evaluate_all(logs, target)][:4]
    ['replay', 'ips', 'snips', 'dm']
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from recloop.data.logs import LoggedFeedback
from recloop.ope import doubly_robust as drm
from recloop.ope import slate as sl
from recloop.ope import weighting as wt
from recloop.ope.estimate import Estimate, UnsupportedActionWarning, unsupported_mass
from recloop.ope.intervals import bootstrap
from recloop.ope.reward_model import estimate_q, estimate_q_by_item

BANDIT_ESTIMATORS = ("replay", "ips", "snips", "dm", "dr", "sndr", "switch_dr", "dr_os")
SLATE_ESTIMATORS = ("slate_ips", "independent_ips", "pseudo_inverse", "rips", "cascade_dr")


def evaluate_all(logs: LoggedFeedback, target_probs: Any, *, q_hat: Any = None, model: Any = None,
                 n_folds: int = 1, max_weight: float | None = None, estimators: tuple[str, ...] | None = None,
                 ci: str = "normal", n_boot: int = 500, level: float = 0.95, seed: Any = 0) -> list[Estimate]:
    """Estimate the value of the policy whose probabilities are ``target_probs``.

    Bandit logs: ``target_probs`` ``(n, K)``. Slate logs: ``(n, L, K)``
    per-position probabilities (product form). ``max_weight`` adds clipped
    IPS and clipped DR rows. ``ci``: ``"normal"`` or ``"bootstrap"``.
    """
    if ci not in ("normal", "bootstrap"):
        raise ValueError(f"ci must be 'normal' or 'bootstrap', got {ci!r}")
    pi = np.asarray(target_probs, dtype=np.float64)
    if logs.is_slate:
        return _evaluate_slate(logs, pi, q_hat=q_hat, model=model, estimators=estimators, ci=ci, n_boot=n_boot,
                               level=level, seed=seed)
    want = pi.shape[:1] + (logs.n_actions,)
    if pi.shape != want:
        raise ValueError(f"target_probs has shape {pi.shape}; these logs need {want}")
    if logs.candidate_mask is not None and (pi[~logs.candidate_mask] > 1e-12).any():
        raise ValueError("target_probs put mass on padding entries that are not candidates of their event")
    unsupported_mass(logs.action, pi)  # warn once, here; the estimators below stay quiet
    if q_hat is None and logs.candidates is not None:
        assert logs.candidate_mask is not None  # LoggedFeedback keeps candidates and their mask together
        q_hat = estimate_q_by_item(logs.context, logs.action, logs.reward, logs.candidates, logs.candidate_mask,
                                   model=model)
    elif q_hat is None:
        q_hat = estimate_q(logs.context, logs.action, logs.reward, logs.n_actions, model=model, n_folds=n_folds,
                           seed=seed)
    arrays = (logs.reward, logs.action, logs.propensity, pi)
    calls: dict[str, tuple] = {
        "replay": (wt.replay, arrays, {"seed": seed}),
        "ips": (wt.ips, arrays, {}),
        "snips": (wt.snips, arrays, {}),
        "dm": (drm.dm, arrays + (q_hat,), {}),
        "dr": (drm.dr, arrays + (q_hat,), {}),
        "sndr": (drm.sndr, arrays + (q_hat,), {}),
        "switch_dr": (drm.switch_dr, arrays + (q_hat,), {}),
        "dr_os": (drm.dr_os, arrays + (q_hat,), {}),
    }
    if max_weight is not None:
        calls["clipped_ips"] = (wt.ips, arrays, {"max_weight": max_weight})
        calls["clipped_dr"] = (drm.dr, arrays + (q_hat,), {"max_weight": max_weight})
    names = list(estimators or BANDIT_ESTIMATORS) + [k for k in ("clipped_ips", "clipped_dr") if k in calls]
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsupportedActionWarning)
        for name in names:
            if name not in calls:
                raise KeyError(f"unknown estimator {name!r}; known: {', '.join(calls)}")
            fn, args, kw = calls[name]
            est = _run(fn, args, kw, ci=ci, n_boot=n_boot, level=level, seed=seed)
            out.append(est)
    return out


def _run(fn: Any, args: tuple, kw: dict, *, ci: str, n_boot: int, level: float, seed: Any) -> Estimate:
    if ci == "bootstrap":
        return bootstrap(fn, *args, n_boot=n_boot, level=level, seed=seed, **kw)
    return fn(*args, level=level, **kw)


def _evaluate_slate(logs: LoggedFeedback, pi: np.ndarray, *, q_hat: Any, model: Any,
                    estimators: tuple[str, ...] | None, ci: str, n_boot: int, level: float, seed: Any) -> list[Estimate]:
    n, L = logs.action.shape
    if pi.shape != (n, L, logs.n_actions):
        raise ValueError(f"slate target_probs has shape {pi.shape}; these logs need {(n, L, logs.n_actions)}")
    if logs.position_propensity is None:
        raise ValueError("slate logs need position_propensity for the slate estimators")
    rows, cols = np.arange(n)[:, None], np.arange(L)[None, :]
    pe_pos = pi[rows, cols, logs.action]
    R = logs.position_reward
    if q_hat is None and R is not None:
        # one reward model per position (items x context), the cascade DR control variate
        q_hat = np.stack([estimate_q(logs.context, logs.action[:, pos], R[:, pos], logs.n_actions, model=model, seed=seed)
                          for pos in range(L)], axis=1)
    calls: dict[str, tuple] = {
        "slate_ips": (sl.slate_ips, (logs.reward, logs.propensity, pe_pos.prod(axis=1)), {}),
        "pseudo_inverse": (sl.pseudo_inverse, (logs.reward, logs.position_propensity, pe_pos), {}),
    }
    if R is not None:
        calls["independent_ips"] = (sl.independent_ips, (R, logs.position_propensity, pe_pos), {})
        calls["rips"] = (sl.cascade_dr, (R, logs.action, logs.position_propensity, pi), {})
        calls["cascade_dr"] = (sl.cascade_dr, (R, logs.action, logs.position_propensity, pi, q_hat), {})
    names = [k for k in (estimators or SLATE_ESTIMATORS) if k in calls]
    return [_run(*calls[k], ci=ci, n_boot=n_boot, level=level, seed=seed) for k in names]


def on_sample_truth(logs: LoggedFeedback, target_probs: Any) -> float | None:
    """mean_i sum_a pi(a|x_i) q(x_i, a) from the simulator's recorded expected rewards (None if absent)."""
    if logs.expected_rewards is None:
        return None
    pi = np.asarray(target_probs, dtype=np.float64)
    return float(np.sum(pi * logs.expected_rewards) / logs.n)


def target_probabilities(policy: Any, logs: LoggedFeedback) -> np.ndarray:
    """The evaluated policy's distribution ``(n, K)`` at every logged event.

    ``policy`` is anything with ``probabilities(obs)`` (the Policy protocol).
    For logs read by item id (``item_ids``, or per-event ``candidates``), the
    policy's serving face ``item_probabilities(context, candidates)`` gives the
    distribution over exactly those items, matched by id (never by position).
    """
    if not hasattr(policy, "probabilities"):
        raise TypeError(f"{type(policy).__name__} has no probabilities(obs): it cannot be evaluated off-policy")
    if logs.is_slate:
        raise ValueError("target_probabilities builds bandit (single-action) distributions; slate logs need "
                         "per-position probabilities (n, L, K)")
    n, K = logs.n, logs.n_actions
    out = np.zeros((n, K))
    contextual = bool(getattr(policy, "contextual", logs.context.shape[1] > 0))
    by_id = hasattr(policy, "item_probabilities")  # the serving face: probabilities by item id
    ids = None if logs.item_ids is None else list(logs.item_ids.tolist())
    for i in range(n):
        obs = logs.context[i] if contextual else None
        if logs.candidates is not None:
            assert logs.candidate_mask is not None  # LoggedFeedback keeps candidates and their mask together
            cols = np.flatnonzero(logs.candidate_mask[i])
            if not by_id:
                raise TypeError(f"{type(policy).__name__} has no item_probabilities(context, candidates): "
                                "it cannot be evaluated on logs whose candidates are item ids")
            out[i, cols] = policy.item_probabilities(obs, list(logs.candidates[i, cols].tolist()))
        elif ids is not None and by_id:
            out[i] = policy.item_probabilities(obs, ids)
        else:
            p = np.asarray(policy.probabilities(obs), dtype=np.float64)
            if p.shape != (K,):
                raise ValueError(f"the policy returns {p.shape[0]} probabilities; the logs have {K} actions")
            out[i] = p
    return out
