"""Your own logs: from a CSV to an estimate, a fitted model and a ranking (docs/own_logs.md).

    python examples/own_logs.py [--events 20000] [--csv my_logs.csv]

Without --csv it first writes a CSV the way a shop's logging would: one row per
recommendation with the time, the SKU shown, the probability the logging policy
gave it, whether it was clicked, and the user's features as flat columns. The
world behind it is known, so the script can print the true values too.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from recloop.agents.bandits import LinUCB, OffPolicySoftmax  # noqa: E402
from recloop.agents.bandits.base import BanditPolicy  # noqa: E402
from recloop.data import LogSpec, read_logs  # noqa: E402
from recloop.ope import evaluate_all, overlap, refused_estimators, target_probabilities  # noqa: E402

SKUS = ["SKU-0042", "SKU-0107", "SKU-0311", "SKU-0555", "SKU-0777"]


def true_click_probability(X: np.ndarray) -> np.ndarray:
    theta = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, -0.5], [-1.0, 0.5, 0.0], [0.5, -1.0, 1.0], [0.0, 0.0, 0.0]])
    return 1 / (1 + np.exp(-(X @ theta.T - 1.0)))


def write_logs(path: Path, n: int, seed: int = 0) -> None:
    """A logging policy that prefers SKU-0555, with a 20% exploration floor."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    mu = 0.8 * np.eye(5)[3] + 0.2 / 5
    a = rng.choice(5, size=n, p=mu)
    click = rng.random(n) < true_click_probability(X)[np.arange(n), a]
    with open(path, "w") as fh:
        fh.write("shown_at,sku,propensity,click,age_z,visits_z,basket_z\n")
        for i in range(n):
            fh.write(f"{1_767_225_600 + 60 * i},{SKUS[a[i]]},{mu[a[i]]:.3f},{int(click[i])},"
                     f"{X[i, 0]:.5f},{X[i, 1]:.5f},{X[i, 2]:.5f}\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--csv", type=Path, default=None, help="read these logs instead of simulated ones")
    ap.add_argument("--write-csv", type=Path, default=None, help="only write the simulated logs here, then stop")
    args = ap.parse_args()
    if args.write_csv:
        write_logs(args.write_csv, args.events)
        print(f"wrote {args.events:,} events to {args.write_csv}")
        return
    folder = Path(tempfile.mkdtemp(prefix="own-logs-"))
    csv = args.csv or folder / "logs.csv"
    if args.csv is None:
        write_logs(csv, args.events)

    # 1. read: which column is what (the same spec works as YAML: LogSpec.from_yaml)
    spec = LogSpec(action="sku", propensity="propensity", reward="click", context_cols=("*_z",), timestamp="shown_at")
    logs = read_logs(csv, spec)
    print(f"read {logs.n:,} events, {logs.n_actions} items {logs.item_ids.tolist()}, {logs.context.shape[1]} features")

    # 2. split by time: learn on the first 80%, evaluate on the rest
    order = np.argsort(logs.timestamp, kind="stable")
    cut = int(0.8 * logs.n)
    train, test = logs.take(np.sort(order[:cut])), logs.take(np.sort(order[cut:]))

    # 3. learn: a LinUCB warm-started by replay, and a policy trained off-policy (doubly robust)
    models = {"linucb (replay)": LinUCB(n_features=3, alpha=0.1, seed=0).fit(train),
              "off-policy softmax (DR)": OffPolicySoftmax(n_features=3, seed=0).fit(train)}

    # 4. evaluate on the held-out events, with the overlap check
    truth_q = true_click_probability(test.context)
    print(f"logging policy: average click {test.reward.mean():.4f} on the {test.n:,} held-out events")
    for name, model in models.items():
        pi = target_probabilities(model, test)
        ov = overlap(test, pi)
        refused = refused_estimators(ov, ("ips", "snips", "dr"))
        ests = {e.estimator: e for e in evaluate_all(test, pi, estimators=("snips", "dr"))}
        # the world knows every click probability: the value pi really has on these events
        true_value = float((pi * truth_q[:, [SKUS.index(i) for i in test.item_ids]]).sum(axis=1).mean())
        dr = ests["dr"]
        print(f"{name:26s} DR {dr.value:.4f} [{dr.ci_low:.4f}, {dr.ci_high:.4f}]  SNIPS {ests['snips'].value:.4f}  "
              f"true value {true_value:.4f}  ESS {ov.ess:,.0f}  refused: {sorted(refused) or 'none'}")

    # 5. save and serve: the file holds the item ids (and the featuriser); any order ranks the same
    path = models["off-policy softmax (DR)"].save(folder / "model.npz")
    served = BanditPolicy.load(path).set_exploration(0.05)
    x = np.array([1.0, 0.0, 0.5])
    rec = served.recommend(x, SKUS[::-1], k=3)
    print(f"saved {path.name}; recommend(x, 5 SKUs, k=3) -> {list(rec.items)} "
          f"(propensity of the first: {rec.propensity:.3f})")
    print(f"serve it: recloop serve --policy {path} --n-features 3")


if __name__ == "__main__":
    main()
