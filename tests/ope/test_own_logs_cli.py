"""`recloop fit` and `recloop evaluate` on a team's own CSV: time split, in-sample refusal, support refusal."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from recloop.agents.bandits.base import BanditPolicy
from recloop.apps.cli import app
from recloop.ope.overlap import overlap, refused_estimators

runner = CliRunner()
OPTS = ["--action", "sku", "--propensity", "prob", "--reward", "click", "--context-cols", "f_*", "--timestamp", "time"]


def _csv(path, n=1500, deterministic=False, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    theta = np.array([[1.5, 0.0], [0.0, 1.5], [-1.0, 0.5]])
    q = 1 / (1 + np.exp(-X @ theta.T))
    if deterministic:  # a greedy logging policy with no exploration floor
        a, p = (X @ theta.T).argmax(axis=1), np.ones(n)
    else:
        a, p = rng.integers(3, size=n), np.full(n, 1 / 3)
    r = (rng.random(n) < q[np.arange(n), a]).astype(int)
    skus = ["SKU-b", "SKU-a", "SKU-c"]
    lines = ["time,sku,prob,click,f_1,f_2"] + [f"{1000 + i},{skus[a[i]]},{p[i]:.6f},{r[i]},{X[i, 0]},{X[i, 1]}"
                                             for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_fit_then_evaluate_on_the_holdout(tmp_path):
    logs = _csv(tmp_path / "logs.csv")
    res = runner.invoke(app, ["fit", "--logs", str(logs), *OPTS, "--policy", "offpolicy-softmax",
                              "--train-share", "0.7", "-o", str(tmp_path / "m.npz")])
    assert res.exit_code == 0, res.output
    assert "fitted offpolicy-softmax on 1,050 events" in res.output and "450 later events" in res.output
    model = BanditPolicy.load(tmp_path / "m.npz")
    assert sorted(model.known_items) == ["SKU-a", "SKU-b", "SKU-c"]
    res = runner.invoke(app, ["evaluate", "--logs", str(logs), *OPTS, "--policy", str(tmp_path / "m.npz"),
                              "--out", str(tmp_path / "ev")])
    assert res.exit_code == 2 and "was fitted on 1,050 of these 1,500 events" in res.output
    assert "--holdout" in res.output and "--in-sample" in res.output
    res = runner.invoke(app, ["evaluate", "--logs", str(logs), *OPTS, "--policy", str(tmp_path / "m.npz"),
                              "--out", str(tmp_path / "ev"), "--holdout"])
    assert res.exit_code == 0, res.output
    out = json.loads((tmp_path / "ev" / "estimates.json").read_text())
    assert out["n"] == 450 and out["overlap"]["uniform_share"] == 1.0 and {e["estimator"] for e in out["estimates"]} >= {"ips", "snips", "dm", "dr"}
    assert out["overlap"]["unsupported_mass"] == 0.0 and out["refused"] == {}
    res = runner.invoke(app, ["evaluate", "--logs", str(logs), *OPTS, "--policy", str(tmp_path / "m.npz"),
                              "--out", str(tmp_path / "ev2"), "--in-sample"])
    assert res.exit_code == 0 and json.loads((tmp_path / "ev2" / "estimates.json").read_text())["n"] == 1500


def test_fit_needs_timestamps_to_split(tmp_path):
    logs = _csv(tmp_path / "logs.csv")
    res = runner.invoke(app, ["fit", "--logs", str(logs), "--action", "sku", "--propensity", "prob", "--reward",
                              "click", "--context-cols", "f_*", "--train-share", "0.5", "-o", str(tmp_path / "m")])
    assert res.exit_code == 2 and "no timestamps that separate train from evaluation" in res.output


def test_deterministic_logs_cannot_evaluate_another_policy(tmp_path):
    logs = _csv(tmp_path / "det.csv", deterministic=True)
    other = _csv(tmp_path / "other.csv", seed=5)
    res = runner.invoke(app, ["fit", "--logs", str(other), *OPTS, "--policy", "epsilon-greedy", "-p", "epsilon=0.3",
                              "-o", str(tmp_path / "eg.npz")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["evaluate", "--logs", str(logs), *OPTS, "--policy", str(tmp_path / "eg.npz"),
                              "--out", str(tmp_path / "ev")])
    assert res.exit_code == 0, res.output
    assert "events logged with propensity 1: 100%" in res.output
    assert "refused: ips" in res.output and "exploration floor" in res.output
    out = json.loads((tmp_path / "ev" / "estimates.json").read_text())
    assert set(out["refused"]) == {"replay", "ips", "snips"}
    assert "ips" not in {e["estimator"] for e in out["estimates"]} and "dm" in {e["estimator"] for e in out["estimates"]}


def test_overlap_is_exact_on_a_small_case():
    from recloop.data.logs import LoggedFeedback

    logs = LoggedFeedback.from_arrays(action=[0, 1, 0, 0], reward=[1, 0, 1, 0], propensity=[0.5, 0.5, 1.0, 0.5],
                                      n_actions=3)
    pi = np.array([[0.5, 0.3, 0.2]] * 4)
    ov = overlap(logs, pi)
    # action 2 never logged: 0.2 per event; event 2 (propensity 1): 1 - 0.5 on the other actions
    assert ov.never_logged_mass == pytest.approx(0.2)
    assert ov.unsupported_mass == pytest.approx((0.2 + 0.2 + 0.5 + 0.2) / 4)
    w = np.array([1.0, 0.6, 0.5, 1.0])
    assert ov.ess == pytest.approx(w.sum() ** 2 / (w ** 2).sum())
    assert set(refused_estimators(ov, ("ips", "dm", "snips", "dr"))) == {"ips", "snips"}
    assert refused_estimators(ov, ("ips",), tol=0.5) == {}
    # replay needs uniform logging: 3 of these 4 events were not (1/3 each would be)
    assert ov.uniform_share == 0.0
    assert "uniformly random logs" in refused_estimators(ov, ("replay",), tol=0.5)["replay"]
    uniform = LoggedFeedback.from_arrays(action=[0, 1, 2], reward=[1, 0, 1], propensity=[1 / 3] * 3)
    assert refused_estimators(overlap(uniform, np.full((3, 3), 1 / 3)), ("replay", "ips")) == {}
