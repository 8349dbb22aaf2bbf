"""Runs inside .bench-venvs/obp (Open Bandit Pipeline 0.5.7): OBP's estimates on given arrays.

usage: obp_estimates.py CASES.npz OUT.json [OBD_ROOT]

CASES.npz holds, per case ``c``: ``c/reward``, ``c/action``, ``c/pscore``,
``c/position``, ``c/action_dist`` (n, K, L) and ``c/q_hat`` (n, K, L). For
each case we time and record OBP's IPW, SNIPW, DM, DR, SNDR, Switch-DR and
DRos (fixed hyper-parameters, same as recloop's side). With OBD_ROOT, also
OBP's own end-to-end pipeline on the Open Bandit Dataset sample (its
pre-processing, its BernoulliTS action distribution, its regression model).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from obp.ope import (
    DirectMethod, DoublyRobust, DoublyRobustWithShrinkage, InverseProbabilityWeighting,
    SelfNormalizedDoublyRobust, SelfNormalizedInverseProbabilityWeighting, SwitchDoublyRobust,
)

TAU = 10.0
LAM = 10.0


def estimators():
    return {
        "ips": InverseProbabilityWeighting(),
        "snips": SelfNormalizedInverseProbabilityWeighting(),
        "dm": DirectMethod(),
        "dr": DoublyRobust(),
        "sndr": SelfNormalizedDoublyRobust(),
        "switch_dr@10": SwitchDoublyRobust(lambda_=TAU),
        "dr_os@10": DoublyRobustWithShrinkage(lambda_=LAM),
    }


def run_cases(path: str) -> dict:
    data = np.load(path)
    cases = sorted({k.split("/")[0] for k in data.files})
    out = {}
    for c in cases:
        kw = dict(reward=data[f"{c}/reward"], action=data[f"{c}/action"], pscore=data[f"{c}/pscore"],
                  position=data[f"{c}/position"], action_dist=data[f"{c}/action_dist"],
                  estimated_rewards_by_reg_model=data[f"{c}/q_hat"])
        row = {}
        for name, est in estimators().items():
            args = dict(kw)
            if name in ("ips", "snips"):
                args.pop("estimated_rewards_by_reg_model")
            t0 = time.perf_counter()
            value = est.estimate_policy_value(**args)
            row[name] = {"value": float(value), "seconds": time.perf_counter() - t0}
        out[c] = row
    return out


def run_obd(root: str) -> dict:
    """OBP's README pipeline: BTS value from uniform-random logs, per campaign."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import LabelEncoder

    from obp.dataset import OpenBanditDataset as _OBD
    from obp.ope import OffPolicyEvaluation, RegressionModel
    from obp.policy import BernoulliTS

    class OpenBanditDataset(_OBD):
        """obp 0.5.7's pre_process calls ``DataFrame.drop(columns=..., axis=1)``, which pandas >= 3
        rejects ("Cannot specify both 'axis' and 'index'/'columns'"); same code without ``axis``."""

        def pre_process(self) -> None:
            user_cols = self.data.columns.str.contains("user_feature")
            self.context = pd.get_dummies(self.data.loc[:, user_cols], drop_first=True).values
            item_feature_0 = self.item_context["item_feature_0"].to_frame()
            item_feature_cat = self.item_context.drop(columns=["item_id", "item_feature_0"]).apply(
                LabelEncoder().fit_transform)
            self.action_context = pd.concat(objs=[item_feature_cat, item_feature_0], axis=1).values

    results = {}
    for campaign in ("all", "men", "women"):
        t0 = time.perf_counter()
        ds = OpenBanditDataset(behavior_policy="random", campaign=campaign, data_path=f"{root}")
        fb = ds.obtain_batch_bandit_feedback()
        truth = OpenBanditDataset.calc_on_policy_policy_value_estimate(
            behavior_policy="bts", campaign=campaign, data_path=f"{root}")
        bts = BernoulliTS(n_actions=ds.n_actions, len_list=ds.len_list, is_zozotown_prior=True,
                          campaign=campaign, random_state=12345)
        action_dist = bts.compute_batch_action_dist(n_sim=100_000, n_rounds=fb["n_rounds"])
        reg = RegressionModel(n_actions=ds.n_actions, len_list=ds.len_list, action_context=ds.action_context,
                              base_model=LogisticRegression(max_iter=1000, C=100, random_state=12345))
        q = reg.fit_predict(context=fb["context"], action=fb["action"], reward=fb["reward"],
                            position=fb["position"], pscore=fb["pscore"], n_folds=3, random_state=12345)
        ope = OffPolicyEvaluation(bandit_feedback=fb, ope_estimators=list(estimators().values()))
        values = ope.estimate_policy_values(action_dist=action_dist, estimated_rewards_by_reg_model=q)
        results[campaign] = {"truth": float(truth), "values": {k: float(v) for k, v in values.items()},
                             "relative_error": {k: abs(float(v) - truth) / truth for k, v in values.items()},
                             "seconds": time.perf_counter() - t0}
    return results


if __name__ == "__main__":
    result = {"obp_version": __import__("obp").__version__, "cases": run_cases(sys.argv[1])}
    if len(sys.argv) > 3:
        try:
            result["obd"] = run_obd(sys.argv[3])
        except Exception as err:  # report, don't hide: the comparison says why it is missing
            result["obd_error"] = f"{type(err).__name__}: {err}"
    with open(sys.argv[2], "w") as fh:
        json.dump(result, fh, indent=1)
