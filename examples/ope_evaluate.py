"""Off-policy evaluation in five steps: log, save, load, estimate, check against the truth.

    python examples/ope_evaluate.py [--n 5000]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from recloop.core.registry import make
from recloop.data.collect import collect_logs
from recloop.data.logs import read_parquet
from recloop.ope import evaluate_all, on_sample_truth
from recloop.ope.suite import target_probabilities


def main(n: int = 5000, seed: int = 0) -> None:
    # 1. A behaviour policy that explores logs decisions (with propensities) on a simulated world.
    env = make("env", "contextual", n_arms=5, n_features=4, horizon=1000)
    behaviour = make("policy", "epsilon-greedy", n_arms=5, epsilon=0.3, seed=seed)
    logs = collect_logs(env, behaviour, n, seed=seed, update=True)

    # 2. The logs travel as Parquet, in the same schema the server writes.
    with tempfile.TemporaryDirectory() as tmp:
        logs = read_parquet(logs.to_parquet(Path(tmp) / "logs.parquet"))

    # 3. A candidate policy, trained on the logs: LinUCB.
    candidate = make("policy", "linucb", n_arms=5, n_features=4, seed=seed)
    candidate.update_batch(logs.action, logs.reward, logs.context)

    # 4. Every estimator, from the logs alone.
    pe = target_probabilities(candidate, logs)
    truth = on_sample_truth(logs, pe)  # known only because the world is simulated
    print(f"behaviour's own average reward {logs.reward.mean():.4f}; candidate's true value {truth:.4f}")
    for e in evaluate_all(logs, pe):
        flag = "covers" if e.ci_low <= truth <= e.ci_high else "misses"
        print(f"  {e.estimator:10s} {e.value:.4f}  [{e.ci_low:.4f}, {e.ci_high:.4f}]  {flag}  ESS {e.diagnostics.ess:,.0f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    main(args.n, args.seed)
