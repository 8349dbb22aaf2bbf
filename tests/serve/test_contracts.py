"""The API's promises, one by one: the documented refusals, numbers where the schema says
numbers, and rewards a policy cannot learn refused before they are acknowledged."""

import math

import pytest
from fastapi.testclient import TestClient

from recloop.agents.bandits.base import BanditPolicy
from recloop.core.registry import lookup, names
from recloop.serve.app import create_app

CTX = [0.1, 0.2, 0.3, 0.4]
SERVING = [n for n in names("policy") if issubclass(lookup("policy", n), BanditPolicy) and n != "hybrid-linucb"]


@pytest.mark.parametrize("policy,bad,good", [("thompson", [2.0, -0.5], [0.0, 0.3, 1.0]),
                                             ("exp3", [1.5], [1.0]),
                                             ("gittins", [0.5, 2.0], [0.0, 1.0])])
def test_rewards_outside_the_policys_domain_are_422_and_not_stored(sqlite_db, tmp_path, config, policy, bad, good):
    with TestClient(create_app(config(sqlite_db, tmp_path, policy=policy))) as c:
        svc = c.app.state.service
        for value in bad:
            ev = c.post("/v1/rank", json={"candidates": [{"id": "a"}, {"id": "b"}]}).json()["event_id"]
            r = c.post(f"/v1/events/{ev}/reward", json={"value": value})
            assert r.status_code == 422 and f"the {policy} policy learns only from" in r.json()["error"], r.text
            assert svc.store.reward(ev) is None
        for value in good:
            ev = c.post("/v1/rank", json={"candidates": [{"id": "a"}, {"id": "b"}]}).json()["event_id"]
            assert c.post(f"/v1/events/{ev}/reward", json={"value": value}).status_code == 204
        deadline = 200
        while svc.learner.watermark < len(good) and deadline:
            import time
            time.sleep(0.01)
            deadline -= 1
        assert svc.learner.watermark == len(good) and svc.learner.skipped == 0  # every acknowledged reward learned


def test_unbounded_policies_take_any_finite_reward(sqlite_db, tmp_path, config):
    with TestClient(create_app(config(sqlite_db, tmp_path))) as c:  # linucb
        ev = c.post("/v1/rank", json={"context": CTX, "candidates": [{"id": "a"}]}).json()["event_id"]
        assert c.post(f"/v1/events/{ev}/reward", json={"value": 2.5}).status_code == 204


def test_a_default_reward_the_policy_cannot_learn_is_refused_at_start(sqlite_db, tmp_path, config):
    with pytest.raises(ValueError, match="default_reward 2.0 is outside"):
        create_app(config(sqlite_db, tmp_path, policy="thompson", default_reward=2.0))


@pytest.mark.parametrize("policy", SERVING)
def test_every_policy_answers_scores_as_numbers(sqlite_db, tmp_path, config, policy):
    if policy == "neural-linear":
        pytest.importorskip("torch")
    with TestClient(create_app(config(sqlite_db, tmp_path, policy=policy))) as c:
        r = c.post("/v1/rank", json={"context": CTX, "candidates": [{"id": i} for i in "abcd"], "k": 4})
        assert r.status_code == 200, r.text
        for item in r.json()["ranking"]:
            assert isinstance(item["score"], (int, float)) and math.isfinite(item["score"]), (policy, item)
            assert isinstance(item["probability"], float)
        stored = c.app.state.service.store.decision(r.json()["event_id"])
        assert all(isinstance(s, (int, float)) for s in stored.scores)


REFUSED = [  # the list in docs/serve.md, section 2, each case once more
    ({"context": CTX, "candidates": [{"id": "a"}], "k": True}, "k"),
    ({"context": CTX, "candidates": [{"id": "a"}], "k": 1.0}, "k"),
    ({"context": CTX, "candidates": [{"id": "a"}], "k": "1"}, "k"),
    ({"context": CTX, "candidates": [{"id": ""}]}, "candidates.0.id"),
    ({"context": CTX, "candidates": [{"id": 1.5}]}, "candidates.0.id"),
    ({"context": [1e16, 0, 0, 0], "candidates": [{"id": "a"}]}, "context"),
    ({"context": CTX, "candidates": [{"id": "a", "features": [-1e16]}]}, "features"),
    ({"context": CTX, "candidates": [{"id": "a"}, {"id": "a"}]}, "duplicate candidate id"),
    ({"context": CTX, "candidates": [{"id": "a"}], "excluded": [""]}, "excluded"),
]


@pytest.mark.parametrize("payload,where", REFUSED, ids=[w + str(i) for i, (_, w) in enumerate(REFUSED)])
def test_documented_refusals_hold(sqlite_db, tmp_path, config, payload, where):
    with TestClient(create_app(config(sqlite_db, tmp_path))) as c:
        r = c.post("/v1/rank", json=payload)
        assert r.status_code == 422 and where in r.json()["error"], r.text
        ev = c.post("/v1/rank", json={"context": CTX, "candidates": [{"id": "a"}]}).json()["event_id"]
        for value in (1e16, True, "1", None):
            assert c.post(f"/v1/events/{ev}/reward", json={"value": value}).status_code == 422
        assert c.app.state.service.store.counts() == {"decisions": 1, "rewards": 0}
