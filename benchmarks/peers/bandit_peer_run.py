"""Runs a bandit peer (MABWiser or Vowpal Wabbit) on a workload file, in the peers' own venv.

Usage: python bandit_peer_run.py WORKLOAD.npz {mabwiser-linucb,mabwiser-lints,vw-squarecb}
Prints one JSON line: decisions per second, the arms chosen.
"""

import json
import sys
import time

import numpy as np


def run_mabwiser(X, R, kind, warm):
    from mabwiser.mab import MAB, LearningPolicy

    K = R.shape[1]
    policy = LearningPolicy.LinUCB(alpha=1.0) if kind == "linucb" else LearningPolicy.LinTS(alpha=1.0)
    mab = MAB(arms=list(range(K)), learning_policy=policy, seed=0)
    arms = list(range(K))
    mab.fit(decisions=arms, rewards=[R[t, t] for t in range(warm)], contexts=X[:warm])
    chosen = list(arms)
    t0 = time.perf_counter()
    for t in range(warm, len(X)):
        x = X[t:t + 1]
        a = int(mab.predict(x))
        mab.partial_fit([a], [R[t, a]], x)
        chosen.append(a)
    return chosen, time.perf_counter() - t0


def run_vw(X, R, warm):
    import vowpalwabbit

    K = R.shape[1]
    rng = np.random.default_rng(0)
    vw = vowpalwabbit.Workspace("--cb_explore_adf --squarecb -q sa --quiet --random_seed 0")
    actions = [f"|a a{k}" for k in range(K)]

    def lines(x, label=None):
        shared = "shared |s " + " ".join(f"f{i}:{v:.6f}" for i, v in enumerate(x))
        acts = list(actions)
        if label is not None:
            a, cost, prob = label
            acts[a] = f"0:{cost}:{prob} {acts[a]}"
        return [shared, *acts]

    chosen = []
    for t in range(warm):  # the same round-robin warm-up every library gets, untimed
        vw.learn(lines(X[t], (t, -float(R[t, t]), 1.0 / K)))
        chosen.append(t)
    t0 = time.perf_counter()
    for t in range(warm, len(X)):
        x = X[t]
        pmf = np.asarray(vw.predict(lines(x)), dtype=np.float64)
        pmf /= pmf.sum()
        a = int(rng.choice(K, p=pmf))
        p = float(pmf[a])
        vw.learn(lines(x, (a, -float(R[t, a]), p)))
        chosen.append(a)
    elapsed = time.perf_counter() - t0
    vw.finish()
    return chosen, elapsed


def main():
    path, which = sys.argv[1], sys.argv[2]
    data = np.load(path)
    X, R, warm = data["X"], data["R"], int(data["warm"])
    if which.startswith("mabwiser"):
        chosen, elapsed = run_mabwiser(X, R, which.split("-")[1], warm)
    elif which == "vw-squarecb":
        chosen, elapsed = run_vw(X, R, warm)
    else:
        raise SystemExit(f"unknown peer {which!r}")
    print(json.dumps({"peer": which, "seconds": elapsed, "decisions": len(X) - warm, "chosen": chosen}))


if __name__ == "__main__":
    main()
