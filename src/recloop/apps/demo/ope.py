"""Demo stage: trust a new policy before showing it to anyone.

A softmax behaviour policy logs 20,000 decisions on a contextual world with
known truth; three target policies (close to far from it) are evaluated from
those logs alone by every estimator, and compared with their true values.
"""

from __future__ import annotations

import warnings
from pathlib import Path


from recloop.experiment.section import Section
from recloop.ope.estimate import UnsupportedActionWarning
from recloop.apps.ope_plots import plot_estimates
from recloop.ope.reward_model import estimate_q
from recloop.ope.suite import evaluate_all
from recloop.ope.synthetic import ContextualWorld, epsilon_greedy_policy, softmax_policy


def demo_stage(out_dir: Path, seed: int = 0) -> list[Section]:
    out_dir = Path(out_dir)
    world = ContextualWorld(n_actions=10, n_features=5, seed=seed)
    behaviour = softmax_policy(world, temperature=0.2, noise=1.0, seed=seed + 1)
    targets = {
        "close (noisier copy)": softmax_policy(world, temperature=0.2, noise=0.7, seed=seed + 2),
        "medium (sharper)": softmax_policy(world, temperature=0.1, noise=0.3, seed=seed + 3),
        "far (near-greedy)": epsilon_greedy_policy(world, epsilon=0.05),
    }
    logs = world.logs(behaviour, 20_000, seed=seed + 4)
    q = estimate_q(logs.context, logs.action, logs.reward, logs.n_actions)
    rows, panels, truths = [], {}, {}
    for name, target in targets.items():
        truth = world.value(target, n=200_000)
        pe = target(logs.context)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnsupportedActionWarning)
            ests = evaluate_all(logs, pe, q_hat=q, seed=seed)
        panels[name], truths[name] = ests, truth
        for e in ests:
            rows.append({"target": name, "estimator": e.estimator, "estimate": round(e.value, 4),
                         "95% CI": f"[{e.ci_low:.4f}, {e.ci_high:.4f}]", "truth": round(truth, 4),
                         "error %": round(100 * (e.value - truth) / truth, 2),
                         "covers": bool(e.ci_low <= truth <= e.ci_high),
                         "ESS": int(e.diagnostics.ess) if e.diagnostics else None})
    image = plot_estimates(panels, out_dir / "ope_estimates.png", truths=truths,
                           title=f"Off-policy estimates from {logs.n:,} softmax-policy logs")
    dr_err = [abs(r["error %"]) for r in rows if r["estimator"] == "dr"]
    text = (f"A softmax behaviour policy logged {logs.n:,} decisions (10 actions, 5 context features, click "
            "rewards). Each target policy's click rate is estimated from those logs alone and compared with its "
            f"true value. Doubly robust errors: {', '.join(f'{e:.1f}%' for e in dr_err)}. The direct method (DM) "
            "leans on a misspecified reward model: tight intervals, wrong place. Weighting estimators are "
            "unbiased but widen as the target moves away from the behaviour (see ESS).")
    return [Section(title="Off-policy evaluation", text=text, rows=rows, images=[image])]
