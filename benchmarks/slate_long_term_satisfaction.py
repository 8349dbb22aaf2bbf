"""SlateQ vs myopic on the long-term-satisfaction (chocolate vs kale) "meaningful" preset.

Also scores three scripted policies that know the simulator, as references: always the most
clickbaity item (what a perfect myopic policy does), always the least clickbaity, and a
planned mix (clickbait only while satisfaction > 0.95). Prints JSON and writes
benchmarks/results/slate_long_term_satisfaction.json.

    .venv/bin/python benchmarks/slate_long_term_satisfaction.py --seeds 3 --steps 20000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np


def scripted(policy, users: int, seed: int) -> float:
    from recloop.envs.slate import LongTermSatisfactionVectorEnv
    env = LongTermSatisfactionVectorEnv(users, preset="meaningful", autoreset=False)
    obs, _ = env.reset(seed=seed)
    total, done = np.zeros(users), np.zeros(users, bool)
    while not done.all():
        obs, r, t, _, _ = env.step(policy(obs)[:, None])
        total += np.where(done, 0.0, r)
        done |= t
    return float(total.mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--eval-users", type=int, default=500)
    ap.add_argument("--agents", default="slateq,myopic,random")
    args = ap.parse_args()

    import torch
    torch.set_num_threads(1)
    from recloop.apps.slate_compare import compare

    t0 = time.perf_counter()
    agents = tuple(args.agents.split(","))
    rows = []
    for seed in range(args.seeds):
        for row in compare("long-term-satisfaction", agents, steps=args.steps, seed=seed,
                           eval_users=args.eval_users):
            row.pop("curve")
            rows.append(row)
            print(json.dumps(row), flush=True)
    summary = {a: round(float(np.mean([r["mean_return"] for r in rows if r["agent"] == a])), 1) for a in agents}
    c = lambda o: o["doc"][..., 0]
    refs = {"always_most_clickbait": scripted(lambda o: c(o).argmax(1), args.eval_users, 1_000_003),
            "always_least_clickbait": scripted(lambda o: c(o).argmin(1), args.eval_users, 1_000_003),
            "planned_mix_sat_gt_0.95": scripted(
                lambda o: np.where(o["user"][:, 0] > 0.95, c(o).argmax(1), c(o).argmin(1)),
                args.eval_users, 1_000_003)}
    result = {"benchmark": "slate_long_term_satisfaction", "preset": "meaningful",
              "config": {"num_candidates": 10, "slate_size": 1, "seeds": args.seeds, "train_steps": args.steps,
                         "eval_users_per_seed": args.eval_users},
              "summary_mean_return": summary, "scripted_references": {k: round(v, 1) for k, v in refs.items()},
              "slateq_minus_myopic": round(summary.get("slateq", np.nan) - summary.get("myopic", np.nan), 1),
              "runs": rows, "wall_seconds": round(time.perf_counter() - t0, 1),
              "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores shared with other jobs"}
    out = Path(__file__).parent / "results" / "slate_long_term_satisfaction.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: result[k] for k in ("summary_mean_return", "scripted_references", "slateq_minus_myopic")},
                     indent=2))


if __name__ == "__main__":
    main()
