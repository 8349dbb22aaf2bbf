"""How unevenly SQN's actor heads weight the cross-entropy on MovieLens-100k: trains one model, then
prints JSON with the spread of the per-step weights on 1024 training windows.

The weights are: ``sac``, the critic's Q of the logged film; ``sa2c``, that Q minus the mean over
it and 50 sampled films; the rating reward of ``gru4rec[rating_weight=true]`` (1.0 / 0.2). Each
is clipped at 0 and normalised to mean 1 in training. The coefficient of variation (sd / mean)
says how far each one tilts the loss away from plain cross-entropy.

    .venv/bin/python benchmarks/movielens_ce_weights.py --head sa2c --budget 60 --seed 0
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def cv(w) -> float:
    """sd / mean of the weights as training uses them (``mean_one``: clipped at 0, mean 1)."""
    from recloop.agents.reco.neural import mean_one

    return float(mean_one(w).std())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--head", choices=["sac", "sa2c"], default="sa2c", help="the head to train")
    ap.add_argument("--budget", type=float, default=60.0, help="training CPU-seconds")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from recloop.agents.reco import make_recommender
    from recloop.agents.reco.neural import next_item_pairs, rating_reward
    from recloop.agents.reco.sqn import _q_at, sa2c_advantage
    from recloop.agents.reco.training import make_windows
    from recloop.data.movielens import load_movielens
    from recloop.data.splits import leave_one_out

    split = leave_one_out(load_movielens())
    model = make_recommender("sqn", lr=0.01, max_len=20, lr_schedule="linear", next_action="ce", negatives=50,
                             head=args.head, patience=100, seed=args.seed).fit(split, time_budget_s=args.budget)
    w = make_windows(split, model.max_len, np.random.default_rng(args.seed + 1))
    tokens, ratings = w.tokens[:1024], w.ratings[:1024]
    with torch.no_grad():
        states, actions, valid = next_item_pairs(model.net_.encoder(tokens), tokens)
        s, a = states[valid], actions[valid]
        q = _q_at(model.net_.q_head, s, a)
        sampled = model.net_.q_head(s)[:, torch.randint(0, model.n_items_, (50,))]
        advantage = sa2c_advantage(q, sampled)
        reward = rating_reward(ratings[:, 1:])[valid]
    print(json.dumps({"head": args.head, "budget_cpu_s": args.budget, "seed": args.seed, "epochs": len(model.log_),
                      "steps": int(valid.sum()), "advantage_share_clipped": float((advantage <= 0).float().mean()),
                      "advantage_q10_q50_q90": np.quantile(advantage.numpy(), [0.1, 0.5, 0.9]).round(3).tolist(),
                      "cv_sac_weights": cv(q), "cv_sa2c_weights": cv(advantage), "cv_rating_weights": cv(reward)}))


if __name__ == "__main__":
    main()
