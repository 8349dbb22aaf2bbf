"""Offline evaluations over the service's own logs, as Personalizer runs them.

For the rewarded decisions ranked in ``[startTime, endTime)`` (Apprentice-mode events
left out: they log the baseline with certainty, so they say nothing about any other
action), each policy gets a self-normalised IPS estimate with its normal interval
(:func:`recloop.ope.snips`):

- **Online** (``policySource`` Online): the logged distribution itself (every weight 1:
  the mean logged reward);
- **Baseline**: the first non-excluded action (a slot's ``baselineAction``);
- **Random**: uniform over the eligible actions;
- **learning settings** (the current ones, the listed ones and, with
  ``enablePolicyOptimization``, a small sweep): a fresh model trained through the logs
  in time order, each event scored *before* it is learned (progressive validation),
  exploring as the service does (``explorationPercentage``). The best estimate is
  ``optimalPolicy``; its trained model is kept so ``applyFromEvaluation`` can serve it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from recloop.serve.personalizer.model import DEFAULTS, LinearCB, epsilon_greedy, format_arguments, slot_inputs
from recloop.serve.personalizer.schemas import iso_time

log = logging.getLogger("recloop.serve.personalizer")

SWEEP = [{"learning_rate": lr} for lr in (0.1, 0.25, 0.5, 1.0)] + [{"interactions": False}]


def run(store: Any, spec: dict, *, current: tuple[str, dict], epsilon: float, model_dir: Path,
        interval_s: float = 300.0) -> dict:
    """The evaluation of ``spec`` (an EvaluationRequest as a dict, times in unix seconds)."""
    from recloop.ope import snips  # here, not at import: recloop.ope imports scipy.stats, seconds of start-up
    rows = [r for r in store.logged(spec["start"], spec["end"]) if r.mode != "Apprentice"]
    if not rows:
        raise ValueError("no rewarded events in the evaluation's time range")
    settings = [("OfflineExperimentation", current[0], current[1], None)]  # the online learning settings, re-run
    settings += [("Custom", p["name"], p["params"], p["name"]) for p in spec.get("policies", [])]
    if spec.get("enablePolicyOptimization"):
        for i, change in enumerate(SWEEP):
            params = {**DEFAULTS, **current[1], **change}
            settings.append(("OfflineExperimentation", f"optimization {i + 1}: "
                             + " ".join(f"{k}={v}" for k, v in change.items()), params, None))
    n = len(rows)
    r = np.array([row.reward for row in rows], dtype=np.float64)
    p = np.array([row.propensity for row in rows], dtype=np.float64)
    ts = np.array([row.ts for row in rows], dtype=np.float64)
    k = max(len(orjson.loads(row.request)["slots"][row.slot_index]["eligible"]) for row in rows)
    a = np.zeros(n, dtype=np.int64)
    logged, base, rand = (np.zeros((n, k)) for _ in range(3))
    models = [LinearCB(**{**DEFAULTS, **params}) for _, _, params, _ in settings]
    probs = [np.zeros((n, k)) for _ in settings]
    groups: dict[tuple, list[int]] = {}  # models sharing a feature space share the featurising
    for j, m in enumerate(models):
        groups.setdefault((m.n_features, m.interactions, m.seed), []).append(j)
    for i, row in enumerate(rows):
        request = orjson.loads(row.request)
        ctx, ids, feats = slot_inputs(request, row.slot_index)
        a[i] = ids.index(row.chosen)
        ranking = {item: prob for item, _, prob in orjson.loads(row.ranking)}
        logged[i, :len(ids)] = [ranking.get(item, 0.0) for item in ids]
        logged[i] /= logged[i].sum()
        base[i, ids.index(row.baseline) if row.baseline in ids else 0] = 1.0
        rand[i, :len(ids)] = 1.0 / len(ids)
        for members in groups.values():
            X = models[members[0]].features(ctx, feats)
            for j in members:
                probs[j][i, :len(ids)] = epsilon_greedy(models[j].scores(X), epsilon)
                models[j].learn(X, int(a[i]), float(r[i]))
    t0, t1 = float(ts[0]), float(ts[-1])
    marks = np.arange(t0 + interval_s, t1 + interval_s, interval_s) if t1 > t0 else np.array([t1 + 1])

    def entry(source: str, name: str, args: str | None, pi: np.ndarray) -> dict:
        est = snips(r, a, p, pi)
        series = []
        for mark in marks:  # expanding window: everything logged up to each mark
            m = ts < mark
            if m.sum() >= 2:
                e = snips(r[m], a[m], p[m], pi[m])
                series.append({"timeStamp": iso_time(float(mark)), "expectedReward": float(e.value),
                               "confidenceInterval": [float(e.ci_low), float(e.ci_high)]})
        return {"name": name, "arguments": args, "policySource": source, "slotId": "",
                "summary": {"expectedReward": float(est.value),
                            "confidenceInterval": [float(est.ci_low), float(est.ci_high)],
                            "estimator": est.estimator, "events": int(est.n),
                            "effectiveSampleSize": float(est.diagnostics.ess) if est.diagnostics else None},
                "timeseries": {"data": series}}

    values = [entry("Online", "Online policy (as logged)", None, logged), entry("Baseline", "Baseline", None, base),
              entry("Random", "Random", None, rand)]
    learned = []
    model_dir.mkdir(parents=True, exist_ok=True)
    for j, (source, name, params, _) in enumerate(settings):
        label = f"{name} (re-run)" if j == 0 else name
        e = entry(source, label, format_arguments(params), probs[j])
        e["model"] = str(models[j].save(model_dir / f"policy-{j}.npz"))
        e["params"] = models[j].get_params()
        values.append(e)
        learned.append(e)
    best = max(learned, key=lambda e: e["summary"]["expectedReward"])
    return {"content": {"startTime": iso_time(t0), "endTime": iso_time(t1), "intervalInMinutes": interval_s / 60,
                        "value": values},
            "optimalPolicy": best["name"]}
