"""Your own logs in, a served model out: the real-data loop on a world with known truth.

A world the tests never saw writes a CSV of logged recommendations as a team
would have it: SKU string ids, flat feature columns, a propensity column, a
click, a timestamp; 50k events from an epsilon-floored logging policy. Then,
through the command line exactly as a user would run it:

1. ``recloop fit`` (``--train-share 0.8``) three candidate policies - LinUCB and
   LinTS warm-started by replay, and the off-policy softmax learner (DR objective);
2. ``recloop evaluate --holdout`` each of them on the last 20% of the events,
   every supported estimator with its 95% interval, checked against the true
   value on those events (the world knows every click probability);
3. the off-policy-learned policy's true value on fresh contexts, against the
   best linear policy (a linear-softmax policy fitted on the *true* click
   probabilities of 100k fresh contexts, and greedy least squares on them: the
   better of the two), the logging policy and the oracle;
4. the LinUCB model from ``recloop fit`` served (``recloop.serve`` app, in-process
   client; exploration floor off so the ranking is deterministic): 200 random
   candidate permutations/subsets ranked exactly as the library ranks them;
5. OBP's off-policy learners (``IPWLearner`` with logistic regression,
   ``NNPolicyLearner`` with the DR objective) on the same train logs, side by
   side, run in the benchmark-only venv /work/main/.bench-venvs/obp.

    python benchmarks/own_logs.py [--events 50000] [--no-peers] [--obp-epochs 10]

Prints JSON (also written to benchmarks/results/own_logs.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "src"))

from recloop.agents.bandits import OffPolicySoftmax  # noqa: E402
from recloop.agents.bandits.base import BanditPolicy  # noqa: E402
from recloop.data.logs import LoggedFeedback  # noqa: E402

OBP_PYTHON = Path("/work/main/.bench-venvs/obp/bin/python")
K, D = 20, 6
EPSILON = 0.1
SKUS = [f"SKU-{i:04d}" for i in np.random.default_rng(99).choice(10_000, size=K, replace=False)]


class World:
    """Click probability ``sigmoid(b_a + x.theta_a + g_a x0 x1)``: linear in x plus an interaction,
    so the best linear policy is not the oracle."""

    def __init__(self, seed: int = 2026):
        rng = np.random.default_rng(seed)
        self.b = rng.normal(-1.5, 0.5, size=K)
        self.theta = rng.normal(0.0, 0.6, size=(K, D))
        self.g = rng.normal(0.0, 0.6, size=K)
        # the logging policy: a softmax over a noisy guess of the linear part, with a floor
        self.guess = self.theta + rng.normal(0.0, 0.5, size=(K, D))

    def contexts(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.normal(size=(n, D))

    def q(self, X: np.ndarray) -> np.ndarray:
        z = self.b + X @ self.theta.T + self.g * (X[:, 0] * X[:, 1])[:, None]
        return 1.0 / (1.0 + np.exp(-z))

    def logging_probs(self, X: np.ndarray) -> np.ndarray:
        z = 1.5 * (X @ self.guess.T + self.b)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        return (1 - EPSILON) * p + EPSILON / K


def write_csv(world: World, n: int, path: Path, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    X = world.contexts(n, rng)
    mu = world.logging_probs(X)
    a = (rng.random(n)[:, None] > np.cumsum(mu, axis=1)).sum(axis=1).clip(0, K - 1)
    q = world.q(X)
    click = (rng.random(n) < q[np.arange(n), a]).astype(int)
    t0 = np.datetime64("2026-03-01T00:00:00")
    times = t0 + np.cumsum(rng.integers(1, 100, size=n)).astype("timedelta64[s]")  # strictly increasing
    with open(path, "w") as fh:
        fh.write("shown_at,sku,propensity,click," + ",".join(f"user_f{j}" for j in range(D)) + "\n")
        for i in range(n):
            fh.write(f"{times[i]},{SKUS[a[i]]},{mu[i, a[i]]:.10g},{click[i]},"
                     + ",".join(f"{v:.10g}" for v in X[i]) + "\n")
    return {"X": X, "a": a, "mu": mu, "click": click, "q": q, "times": times}


def recloop(*args: str) -> tuple[str, float]:
    t = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT.parent / "src")}
    out = subprocess.run([sys.executable, "-m", "recloop.apps.cli", *args], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"recloop {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout, time.perf_counter() - t


def policy_value(model: BanditPolicy, X: np.ndarray, q: np.ndarray) -> float:
    P = np.stack([model.item_probabilities(x, SKUS) for x in X])
    return float((P * q).sum(axis=1).mean())


def best_linear(world: World, rng: np.random.Generator) -> dict:
    """The best linear policy, approximated on the truth: a linear-softmax policy maximising the
    true value (full information, 100k contexts) and the greedy least-squares policy."""
    X = world.contexts(100_000, rng)
    q = world.q(X)
    full = LoggedFeedback.from_arrays(action=np.zeros(len(X), int), reward=np.zeros(len(X)),
                                      propensity=np.ones(len(X)), context=X, item_ids=SKUS)
    pol = OffPolicySoftmax(n_features=D, l2=1e-6, max_iter=2000, seed=0)
    pol._coefficients = lambda logs: q  # the value of pi is sum_a pi(a|x) q(x, a): no estimate needed
    pol.fit(full)
    Xb = np.c_[X, np.ones(len(X))]
    W = np.linalg.lstsq(Xb, q, rcond=None)[0]
    return {"softmax": pol, "lstsq_W": W}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--obp-epochs", type=int, default=10, help="NNPolicyLearner epochs (OBP's default 200 took "
                                                              ">45 min on a loaded 2-core machine)")
    ap.add_argument("--out", default=str(ROOT / "results" / "own_logs.json"))
    args = ap.parse_args()
    world = World()
    results: dict = {"events": args.events, "items": K, "features": D, "logging_epsilon": EPSILON,
                     "machine": {"python": platform.python_version(), "cpus": os.cpu_count()}}
    tmp = Path(tempfile.mkdtemp(prefix="own_logs-"))
    csv = tmp / "logs.csv"
    data = write_csv(world, args.events, csv)
    (tmp / "data.yaml").write_text("action: sku\npropensity: propensity\nreward: click\n"
                                   "context_cols: ['user_f*']\ntimestamp: shown_at\n")
    spec = ["--spec", str(tmp / "data.yaml")]
    n_train = int(round(0.8 * args.events))
    test_idx = np.argsort(data["times"], kind="stable")[n_train:]

    # 1-2: fit three candidates on the first 80% by time, evaluate each on the last 20%
    candidates = {"linucb": ["-p", "alpha=0.5"], "lints": ["-p", "v=0.2"], "offpolicy-softmax": []}
    evals = {}
    for name, params in candidates.items():
        model_path = tmp / f"{name}.npz"
        out, fit_s = recloop("fit", "--logs", str(csv), *spec, "--policy", name, *params, "--train-share", "0.8",
                             "-o", str(model_path))
        ev_dir = tmp / f"ev-{name}"
        _, eval_s = recloop("evaluate", "--logs", str(csv), *spec, "--policy", str(model_path), "--holdout",
                            "--out", str(ev_dir))
        report = json.loads((ev_dir / "estimates.json").read_text())
        model = BanditPolicy.load(model_path)
        truth = policy_value(model, data["X"][test_idx], data["q"][test_idx])
        rows = {e["estimator"]: {"value": e["value"], "ci": [e["ci_low"], e["ci_high"]],
                                 "covers_truth": e["ci_low"] <= truth <= e["ci_high"]} for e in report["estimates"]}
        evals[name] = {"truth_on_holdout": truth, "n_holdout": report["n"], "overlap": report["overlap"],
                       "refused": report["refused"], "estimates": rows, "fit_s": fit_s, "evaluate_s": eval_s,
                       "all_intervals_cover": all(r["covers_truth"] for r in rows.values())}
    results["evaluate"] = evals

    # 3: the off-policy-learned policy against the best linear policy, the logging policy, the oracle
    rng = np.random.default_rng(7)
    Xt = world.contexts(20_000, rng)
    qt = world.q(Xt)
    learned = BanditPolicy.load(tmp / "offpolicy-softmax.npz")
    ref = best_linear(world, np.random.default_rng(8))
    P_learned = np.stack([learned.item_probabilities(x, SKUS) for x in Xt])
    v_learned = float((P_learned * qt).sum(axis=1).mean())
    v_learned_greedy = float(qt[np.arange(len(Xt)), P_learned.argmax(axis=1)].mean())
    P_soft = np.stack([ref["softmax"].item_probabilities(x, SKUS) for x in Xt])
    v_soft = float((P_soft * qt).sum(axis=1).mean())
    v_lstsq = float(qt[np.arange(len(Xt)), (np.c_[Xt, np.ones(len(Xt))] @ ref["lstsq_W"]).argmax(axis=1)].mean())
    v_best = max(v_soft, v_lstsq, float(qt[np.arange(len(Xt)), (P_soft).argmax(axis=1)].mean()))
    v_log = float((world.logging_probs(Xt) * qt).sum(axis=1).mean())
    v_oracle = float(qt.max(axis=1).mean())
    results["off_policy_learning"] = {
        "learned_value": v_learned, "learned_greedy_value": v_learned_greedy,
        "best_linear_value": v_best, "best_linear_softmax": v_soft, "best_linear_lstsq_greedy": v_lstsq,
        "logging_value": v_log, "oracle_value": v_oracle,
        "share_of_best_linear": v_learned / v_best,
        "share_of_improvement_over_logging": (v_learned - v_log) / (v_best - v_log),
        "gap_to_oracle": v_oracle - v_learned, "gain_over_logging": v_learned - v_log,
        "goal_met_90pct": v_learned >= 0.9 * v_best, "test_contexts": len(Xt),
    }

    # 4: the fitted LinUCB, served, ranks exactly as the library
    results["serving"] = serve_check(tmp / "linucb.npz", np.random.default_rng(11))

    # 5: OBP's learners on the same train logs
    if not args.no_peers:
        results["obp"] = run_obp(data, test_idx, n_train, Xt, qt, tmp, args.obp_epochs)
        if "error" not in results["obp"]:
            for v in results["obp"].values():
                if isinstance(v, dict) and "value" in v:
                    v["share_of_best_linear"] = v["value"] / v_best
            results["obp"]["recloop_offpolicy_softmax_value"] = v_learned
    text = json.dumps(results, indent=1, default=float)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n")


def serve_check(model_path: Path, rng: np.random.Generator, n_requests: int = 200) -> dict:
    from fastapi.testclient import TestClient

    from recloop.serve.app import create_app
    from recloop.serve.config import ServeConfig

    lib = BanditPolicy.load(model_path)
    db = Path(tempfile.mkdtemp()) / "serve.db"
    cfg = ServeConfig(policy=str(model_path), db=f"sqlite:///{db}", snapshot_every_s=0, exploration=0.0,
                      n_features=D)
    same_order = same_scores = 0
    max_abs = 0.0
    with TestClient(create_app(cfg)) as client:
        for _ in range(n_requests):
            size = int(rng.integers(2, K + 1))
            cands = [SKUS[i] for i in rng.permutation(K)[:size]]
            x = rng.normal(size=D)
            r = client.post("/v1/rank", json={"context": x.tolist(), "candidates": [{"id": c} for c in cands],
                                              "k": size}).json()
            served = [e["id"] for e in r["ranking"]]
            served_scores = {e["id"]: e["score"] for e in r["ranking"]}
            scores = lib.item_scores(x, cands)
            probs = lib.item_probabilities(x, cands)
            chosen = cands[int(np.argmax(probs))]
            rest = [c for _, c in sorted(zip(-scores, cands), key=lambda t: t[0]) if c != chosen]
            same_order += served == [chosen, *rest]
            diffs = [abs(served_scores[c] - s) for c, s in zip(cands, scores)]
            max_abs = max(max_abs, max(diffs))
            same_scores += all(d == 0.0 for d in diffs)
    return {"requests": n_requests, "identical_rankings": same_order, "identical_scores": same_scores,
            "max_abs_score_difference": max_abs, "exploration": 0.0}


def run_obp(data: dict, test_idx: np.ndarray, n_train: int, Xt: np.ndarray, qt: np.ndarray, tmp: Path,
            epochs: int) -> dict:
    if not OBP_PYTHON.exists():
        return {"error": f"no OBP venv at {OBP_PYTHON} (install with benchmarks/peers/obp.sh)"}
    order = np.argsort(data["times"], kind="stable")
    tr = order[:n_train]
    arrays = tmp / "obp_in.npz"
    np.savez(arrays, X=data["X"][tr], a=data["a"][tr], r=data["click"][tr].astype(float),
             p=data["mu"][tr, :][np.arange(len(tr)), data["a"][tr]], Xt=Xt, n_actions=K)
    out = subprocess.run([str(OBP_PYTHON), str(ROOT / "peers" / "obp_learners.py"), str(arrays), str(epochs)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": out.stderr.strip()[-1500:]}
    res = json.loads(out.stdout)
    for r in res.values():
        if isinstance(r, dict) and "action_dist_file" in r:
            P = np.load(r.pop("action_dist_file"))
            r["value"] = float((P * qt).sum(axis=1).mean())
    return res


if __name__ == "__main__":
    main()
