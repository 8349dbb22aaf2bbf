"""The exploration floor: a deterministic policy served by default still logs propensities below 1,
and the model served from a file ranks exactly as the library does."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from recloop.agents.bandits import LinUCB
from recloop.core.types import Feedback
from recloop.data.collect import collect_logs
from recloop.envs.bandits import BernoulliBandit
from recloop.serve.app import create_app
from recloop.serve.config import ServeConfig


def _trained(tmp_path):
    p = LinUCB(n_features=2, alpha=0.0, seed=0)
    p.update_many([Feedback("good", 1.0, np.ones(2)), Feedback("bad", 0.0, np.ones(2)),
                   Feedback("meh", 0.5, np.ones(2))] * 10)
    return p, p.save(tmp_path / "m.npz")


def test_library_floor_is_exact_and_sampled_at_that_rate():
    p = LinUCB(n_features=2, alpha=0.0, seed=0)
    p.update_many([Feedback("good", 1.0, np.ones(2)), Feedback("bad", 0.0, np.ones(2))] * 5)
    np.testing.assert_allclose(p.item_probabilities(np.ones(2), ["bad", "good"]), [0.0, 1.0])
    p.set_exploration(0.2)
    np.testing.assert_allclose(p.item_probabilities(np.ones(2), ["bad", "good"]), [0.1, 0.9])
    shown = [p.recommend(np.ones(2), ["bad", "good"]).chosen for _ in range(4000)]
    assert abs(np.mean([s == "bad" for s in shown]) - 0.1) < 0.015  # sd 0.005
    np.testing.assert_allclose(p.probabilities(np.ones(2)), [0.9, 0.1])
    acts = [p.act(np.ones(2)) for _ in range(4000)]
    assert abs(np.mean(acts) - 0.1) < 0.015
    with pytest.raises(ValueError, match=r"exploration \(epsilon\) must be in \[0, 1\]"):
        p.set_exploration(1.5)


def test_collect_logs_with_an_epsilon_floor():
    class Greedy:
        def probabilities(self, obs=None):
            return np.array([0.0, 1.0, 0.0])

    logs = collect_logs(BernoulliBandit(means=[0.2, 0.8, 0.5]), Greedy(), 3000, seed=0, epsilon=0.3)
    assert set(np.round(logs.propensity, 6)) == {0.1, 0.8}
    assert abs((logs.action != 1).mean() - 0.2) < 0.03


def test_service_explores_by_default_and_ranks_as_the_library(tmp_path):
    lib, path = _trained(tmp_path)
    assert ServeConfig().exploration == 0.05
    cfg = ServeConfig(policy=str(path), db=f"sqlite:///{tmp_path}/s.db", snapshot_every_s=0, n_features=2)
    rng = np.random.default_rng(0)
    with TestClient(create_app(cfg)) as c:
        lib.set_exploration(cfg.exploration)
        items = ["good", "bad", "meh"]
        for _ in range(20):
            order = list(rng.permutation(items))
            r = c.post("/v1/rank", json={"context": [1, 1], "candidates": [{"id": i} for i in order], "k": 3}).json()
            served = {x["id"]: x["probability"] for x in r["ranking"]}
            assert served == pytest.approx(dict(zip(order, lib.item_probabilities(np.ones(2), order))))
            assert min(served.values()) == pytest.approx(0.05 / 3)


def test_named_contexts_are_featurised_as_the_model_was_fitted(tmp_path):
    from recloop.data.features import Featuriser
    from recloop.data.logs import LoggedFeedback

    f = Featuriser(n_features=32, interactions=False, seed=0)
    raw = [{"age": 20.0, "premium": 1.0}, {"age": 60.0, "premium": 0.0}] * 50
    logs = LoggedFeedback.from_arrays(action=[0, 1] * 50, reward=[1.0, 1.0] * 50, propensity=np.full(100, 0.5),
                                      context=f.contexts(raw), item_ids=["young", "old"], featuriser=f.to_dict())
    lib = LinUCB(n_features=32, alpha=0.0, seed=0).fit(logs)
    path = lib.save(tmp_path / "named.npz")
    cfg = ServeConfig(policy=str(path), db=f"sqlite:///{tmp_path}/s.db", snapshot_every_s=0, exploration=0.0)
    with TestClient(create_app(cfg)) as c:
        r = c.post("/v1/rank", json={"context": {"premium": 1.0, "age": 20.0},
                                     "candidates": [{"id": "old"}, {"id": "young"}], "k": 2}).json()
        scores = dict(zip(["old", "young"], lib.item_scores(raw[0], ["old", "young"])))
        assert {x["id"]: x["score"] for x in r["ranking"]} == pytest.approx(scores)
        bad = c.post("/v1/rank", content=b'{"context": {"age": true}, "candidates": [{"id": "old"}]}',
                     headers={"content-type": "application/json"})
        assert bad.status_code == 422 and "'age' is a boolean" in bad.json()["error"]
