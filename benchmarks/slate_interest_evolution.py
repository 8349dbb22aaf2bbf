"""SlateQ vs myopic vs random on RecSim's interest-evolution env (10 candidates, slate of 2).

Published episode returns (Ie et al., SlateQ, IJCAI 2019 / RecSim 2019): random about
159-160, myopic 166-169, best SlateQ 173-175 (174.6). Goal: SlateQ >= 174.

    .venv/bin/python benchmarks/slate_interest_evolution.py                  # what fits: 5 seeds x 40k steps
    .venv/bin/python benchmarks/slate_interest_evolution.py --steps 300000   # the full budget of the issue

Prints JSON and writes benchmarks/results/slate_interest_evolution.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=40_000, help="training user-steps per agent and seed")
    ap.add_argument("--eval-users", type=int, default=500)
    ap.add_argument("--agents", default="slateq,slateq-recsim,myopic,popularity,random")
    ap.add_argument("--env", default="interest-evolution")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    import torch
    torch.set_num_threads(1)
    from recloop.apps.slate_compare import compare

    agents = tuple(args.agents.split(","))
    rows = []
    t0 = time.perf_counter()
    for seed in range(args.seeds):
        for row in compare(args.env, agents, steps=args.steps, seed=seed, eval_users=args.eval_users):
            row.pop("curve")
            rows.append(row)
            print(json.dumps(row), flush=True)
    summary = {}
    for name in agents:
        means = np.array([r["mean_return"] for r in rows if r["agent"] == name])
        summary[name] = {"mean_over_seeds": round(float(means.mean()), 2),
                         "std_over_seeds": round(float(means.std(ddof=1)) if len(means) > 1 else 0.0, 2),
                         "per_seed": [round(float(m), 2) for m in means]}
    result = {
        "benchmark": Path(__file__).stem, "env": args.env,
        "config": {"num_candidates": 10, "slate_size": 2, "seeds": args.seeds, "train_steps": args.steps,
                   "eval_users_per_seed": args.eval_users, "parallel_training_users": 32},
        "targets": {"random": [159, 160], "myopic": [166, 169], "slateq": [173, 175], "goal_slateq": 174},
        "summary": summary, "runs": rows,
        "goal_met": bool(summary["slateq"]["mean_over_seeds"] >= 174) if "slateq" in summary else None,
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores shared with other jobs",
    }
    out = Path(args.out or Path(__file__).parent / "results" / f"{Path(__file__).stem}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: result[k] for k in ("summary", "goal_met", "wall_seconds")}, indent=2))


if __name__ == "__main__":
    main()
