"""Runs inside /work/main/.bench-venvs/obp (Open Bandit Pipeline 0.5.7): OBP's off-policy learners.

usage: obp_learners.py ARRAYS.npz [EPOCHS]   (X, a, r, p: the train logs; Xt: test contexts; n_actions)

Fits IPWLearner (cost-sensitive classification by logistic regression, deterministic)
and NNPolicyLearner (softmax MLP, off_policy_objective "dr" and "ipw") on the same
train logs recloop's learner sees; writes each one's action distribution on Xt to a
.npy beside ARRAYS and prints JSON with fit times. The caller computes true values.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from obp.policy import IPWLearner, NNPolicyLearner
from sklearn.linear_model import LogisticRegression


def main() -> None:
    path = Path(sys.argv[1])
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    d = np.load(path)
    X, a, r, p, Xt, K = d["X"], d["a"], d["r"], d["p"], d["Xt"], int(d["n_actions"])
    out: dict = {"obp_version": __import__("obp").__version__, "nn_epochs": epochs}
    learners = {
        "IPWLearner(logistic)": lambda: IPWLearner(n_actions=K, base_classifier=LogisticRegression(C=100, max_iter=1000,
                                                                                                   random_state=0)),
        "NNPolicyLearner(dr)": lambda: NNPolicyLearner(n_actions=K, dim_context=X.shape[1], off_policy_objective="dr",
                                                       max_iter=epochs, random_state=0,
                                                       q_func_estimator_hyperparams={"max_iter": epochs,
                                                                                     "random_state": 0}),
        "NNPolicyLearner(ipw)": lambda: NNPolicyLearner(n_actions=K, dim_context=X.shape[1], off_policy_objective="ipw",
                                                        max_iter=epochs, random_state=0),
    }
    for name, make in learners.items():
        t = time.perf_counter()
        model = make()
        model.fit(context=X, action=a, reward=r, pscore=p)
        fit_s = time.perf_counter() - t
        dist = model.predict(Xt) if name.startswith("IPW") else model.predict_proba(Xt)
        file = path.with_name(f"obp_{len(out)}.npy")
        np.save(file, dist[:, :, 0])
        out[name] = {"fit_s": fit_s, "action_dist_file": str(file)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
