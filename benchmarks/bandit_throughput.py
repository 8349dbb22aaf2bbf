"""Online contextual-bandit throughput: recloop vs MABWiser vs Vowpal Wabbit, same workload, same run.

The serving pattern: one decision and one update per round. World: K=20 arms,
d=16 features; context x ~ N(0, I) each round; a hidden theta_k ~ N(0, I/d) per
arm; click probability sigmoid(3 x.theta_k - 1); Bernoulli reward. Rewards are
drawn once for every (round, arm) so every library faces the same outcomes.
Every library gets the same untimed round-robin warm-up over the K arms.

    python benchmarks/bandit_throughput.py [--rounds 20000] [--no-peers]

Prints JSON (also written to benchmarks/results/bandit_throughput.json):
decisions per second, reward as a share of the oracle's, and ratios.
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

from recloop.agents.bandits import LinTS, LinUCB  # noqa: E402


def workload(rounds: int, K: int = 20, d: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rounds, d))
    theta = rng.normal(0.0, 1.0 / np.sqrt(d), size=(K, d))
    P = 1.0 / (1.0 + np.exp(-(3.0 * X @ theta.T - 1.0)))
    R = (rng.random((rounds, K)) < P).astype(np.float64)
    return X, P, R


def share(P: np.ndarray, chosen: np.ndarray) -> float:
    return float(P[np.arange(len(chosen)), chosen].sum() / P.max(axis=1).sum())


def warm_up(policy, X, R, K):
    for t in range(K):
        policy.update(t, R[t, t], X[t])


def online(policy, X, R, K):
    chosen = list(range(K))
    warm_up(policy, X, R, K)
    act, update = policy.act, policy.update
    t0 = time.perf_counter()
    for t in range(K, len(X)):
        x = X[t]
        a = act(x)
        update(a, R[t, a], x)
        chosen.append(a)
    return np.array(chosen), time.perf_counter() - t0


def batched(policy, X, R, K, batch):
    chosen = [np.arange(K)]
    warm_up(policy, X, R, K)
    t0 = time.perf_counter()
    for s in range(K, len(X), batch):
        xb = X[s:s + batch]
        a = policy.act_batch(xb)
        policy.update_batch(a, R[np.arange(s, s + len(a)), a], xb)
        chosen.append(a)
    return np.concatenate(chosen), time.perf_counter() - t0


def plain_numpy_linucb(X, R, K, alpha=1.0):
    """The practical limit of a Python LinUCB: no checks, no abstraction, Sherman-Morrison."""
    d = X.shape[1]
    A_inv = np.tile(np.eye(d), (K, 1, 1))
    b = np.zeros((K, d))
    theta = np.zeros((K, d))

    def learn(a, r, x):
        v = A_inv[a] @ x
        A_inv[a] -= np.outer(v, v) / (1.0 + x @ v)
        b[a] += r * x
        theta[a] = A_inv[a] @ b[a]

    for t in range(K):
        learn(t, R[t, t], X[t])
    chosen = list(range(K))
    t0 = time.perf_counter()
    for t in range(K, len(X)):
        x = X[t]
        Ax = A_inv @ x
        a = int((theta @ x + alpha * np.sqrt(Ax @ x)).argmax())
        learn(a, R[t, a], x)
        chosen.append(a)
    return np.array(chosen), time.perf_counter() - t0


def run_peer(python: str, data: Path, which: str) -> dict:
    out = subprocess.run([python, str(ROOT / "peers" / "bandit_peer_run.py"), str(data), which],
                         capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=1_000)
    ap.add_argument("--no-peers", action="store_true", help="skip MABWiser and VW")
    args = ap.parse_args()
    K = 20
    X, P, R = workload(args.rounds, K=K)
    n = args.rounds - K
    results: dict[str, dict] = {}

    def record(name, chosen, seconds, decisions=n):
        results[name] = {"decisions_per_s": decisions / seconds, "seconds": seconds,
                         "reward_share_of_oracle": share(P, np.asarray(chosen)),
                         "cumulative_expected_reward": float(P[np.arange(len(chosen)), chosen].sum())}

    record("numpy-reference-linucb", *plain_numpy_linucb(X, R, K))
    record("recloop-linucb", *online(LinUCB(K, n_features=16, alpha=1.0, seed=0), X, R, K))
    record("recloop-lints", *online(LinTS(K, n_features=16, v=0.5, seed=0), X, R, K))
    record(f"recloop-linucb-batch{args.batch}", *batched(LinUCB(K, n_features=16, alpha=1.0, seed=0), X, R, K,
                                                          args.batch))
    record(f"recloop-lints-batch{args.batch}", *batched(LinTS(K, n_features=16, v=0.5, seed=0), X, R, K,
                                                         args.batch))

    if not args.no_peers:
        setup = subprocess.run(["bash", str(ROOT / "peers" / "bandit_peers.sh")], capture_output=True, text=True)
        if setup.returncode != 0:
            results["peers"] = {"error": f"peer setup failed: {setup.stderr.strip()[-500:]}"}
        else:
            python = setup.stdout.strip().splitlines()[-1]
            with tempfile.TemporaryDirectory() as tmp:
                data = Path(tmp) / "workload.npz"
                np.savez(data, X=X, R=R, warm=K)
                for which in ("mabwiser-linucb", "mabwiser-lints", "vw-squarecb"):
                    res = run_peer(python, data, which)
                    if "error" in res:
                        results[which] = res
                    else:
                        record(which, np.array(res["chosen"]), res["seconds"], res["decisions"])

    def ratio(a, b):
        if a in results and b in results and "decisions_per_s" in results[b] and "decisions_per_s" in results[a]:
            return results[a]["decisions_per_s"] / results[b]["decisions_per_s"]
        return None

    report = {
        "benchmark": "bandit_throughput",
        "workload": {"arms": K, "features": 16, "rounds": args.rounds, "batch": args.batch,
                     "click": "sigmoid(3 x.theta_k - 1)"},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_1m": os.getloadavg()[0]},
        "results": results,
        "ratios": {
            "recloop_linucb_vs_mabwiser_linucb": ratio("recloop-linucb", "mabwiser-linucb"),
            "recloop_linucb_vs_vw": ratio("recloop-linucb", "vw-squarecb"),
            "recloop_lints_vs_mabwiser_lints": ratio("recloop-lints", "mabwiser-lints"),
            "recloop_linucb_vs_numpy_reference": ratio("recloop-linucb", "numpy-reference-linucb"),
            "linucb_batched_vs_online": ratio(f"recloop-linucb-batch{args.batch}", "recloop-linucb"),
            "lints_batched_vs_online": ratio(f"recloop-lints-batch{args.batch}", "recloop-lints"),
        },
    }
    text = json.dumps(report, indent=2)
    print(text)
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    (out / "bandit_throughput.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
