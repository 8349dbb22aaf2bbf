"""/v1/rank takes a context as a JSON object of namespaced features (as teams send them to
Personalizer), featurised by the shared Featuriser saved with the model. Before: only a
vector, or a flat object of numbers, was accepted."""

import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from recloop.data.features import Featuriser
from recloop.serve.app import create_app
from recloop.serve.learner import build_policy, same_model

USER = {"user": {"age": 31, "country": "de", "interests": ["jazz", "chess"]}, "device": "mobile",
        "history": [0.5, 1.5]}
CANDS = [{"id": "x"}, {"id": "y"}]


def _hashed(db, tmp_path, config, **kw):
    return config(db, tmp_path, context_features="hashed", n_features=64, **kw)


def _settle(svc, n, timeout=20.0):
    end = time.monotonic() + timeout
    while svc.learner.watermark < n:
        assert time.monotonic() < end, f"learned {svc.learner.watermark} of {n}"
        time.sleep(0.01)


def test_an_object_context_is_featurised_by_the_shared_featuriser(sqlite_db, tmp_path, config):
    with TestClient(create_app(_hashed(sqlite_db, tmp_path, config))) as c:
        r = c.post("/v1/rank", json={"event_id": "ev-1", "context": USER, "candidates": CANDS})
        assert r.status_code == 200, r.text
        stored = c.app.state.service.store.decision("ev-1").context
        expected = Featuriser(n_features=64, interactions=False, seed=0).context(USER)
        np.testing.assert_array_equal(stored, expected)
        assert np.count_nonzero(expected) >= 5  # age, country, two interests, device, history[0..1]
        # the same features in another key order are the same request (a retry)
        reordered = {"history": [0.5, 1.5], "device": "mobile",
                     "user": {"interests": ["jazz", "chess"], "country": "de", "age": 31}}
        again = c.post("/v1/rank", json={"event_id": "ev-1", "context": reordered, "candidates": CANDS})
        assert again.status_code == 200 and again.json() == r.json()
        # a vector of the hashing length is still a vector
        assert c.post("/v1/rank", json={"context": [0.0] * 64, "candidates": CANDS}).status_code == 200


def test_a_policy_learns_from_text_features_through_the_api(sqlite_db, tmp_path, config):
    """The better item depends on a text feature (the country) alone."""
    cfg = _hashed(sqlite_db, tmp_path, config, sqlite_synchronous="OFF", exploration=0.2)
    rng = np.random.default_rng(0)
    best = {"de": "x", "fr": "y"}
    with TestClient(create_app(cfg)) as c:
        for i in range(200):
            country = ("de", "fr")[i % 2]
            ctx = {"user": {"country": country, "age": int(rng.integers(18, 80))}, "bias": 1}
            r = c.post("/v1/rank", json={"context": ctx, "candidates": CANDS}).json()
            value = float(rng.random() < (0.8 if r["chosen_id"] == best[country] else 0.2))
            c.post(f"/v1/events/{r['event_id']}/reward", json={"value": value})
        _settle(c.app.state.service, 200)
        for country, item in best.items():
            r = c.post("/v1/rank", json={"context": {"user": {"country": country, "age": 40}, "bias": 1},
                                         "candidates": CANDS, "k": 2}).json()
            scores = {x["id"]: x["score"] for x in r["ranking"]}
            assert scores[item] > max(s for i, s in scores.items() if i != item), (country, scores)


def test_the_featuriser_is_saved_with_the_model(db, tmp_path, config):
    """A restart featurises as before even when started without --context-features
    (the snapshot's featuriser serves), and a replay of the log gives the same model."""
    with TestClient(create_app(_hashed(db, tmp_path, config))) as c:
        for i in range(20):
            ev = c.post("/v1/rank", json={"event_id": f"ev-{i}", "context": {**USER, "visit": i},
                                          "candidates": CANDS}).json()["event_id"]
            c.post(f"/v1/events/{ev}/reward", json={"value": float(i % 3 == 0)})
        svc = c.app.state.service
        _settle(svc, 20)
        first = svc.store.decision("ev-0").context
        live = svc.learner.policy
    restarted = config(db, tmp_path, n_features=64)  # context_features left at "vector"
    with TestClient(create_app(restarted)) as c:
        r = c.post("/v1/rank", json={"event_id": "later", "context": {**USER, "visit": 0}, "candidates": CANDS})
        assert r.status_code == 200, r.text
        assert c.app.state.service.store.decision("later").context == first
    with TestClient(create_app(config(db, tmp_path, n_features=64, start_version=0))) as c:
        svc = c.app.state.service
        assert svc.learner.replayed == 20 and svc.learner.policy.featuriser == live.featuriser
        reference = build_policy(_hashed(db, tmp_path, config))
        reference.update_many(j.feedback for j in svc.store.joined_after(0))
        assert same_model(svc.learner.policy, live) and same_model(reference, live)



def test_a_store_of_vector_contexts_is_not_served_as_hashed(sqlite_db, tmp_path, config):
    from recloop.serve.learner import SnapshotError
    with TestClient(create_app(config(sqlite_db, tmp_path, n_features=64))):
        pass
    with pytest.raises(SnapshotError, match="context_features is hashed, but snapshot v0 has no featuriser"):
        with TestClient(create_app(_hashed(sqlite_db, tmp_path, config))):
            pass


BAD = [  # (context, what the error says)
    ({"user": {"premium": True}}, "feature 'user.premium' is a boolean (true)"),
    ({"tags": ["a", False]}, "feature 'tags' is a boolean (false)"),
    ({"user": {"age": 1e16}}, "feature 'user.age' is 1e+16: numbers must be finite, between -1000000000000000"),
    ({"user": {"age": 10 ** 400}}, "numbers must be finite, between"),
    ({"user": {"age": None}}, "'user.age' is null"),
    ({"tags": [1, "a"]}, "'tags' is a list mixing types"),
    ({"f": list(range(4097))}, "4097 feature values; at most 4096"),
    ("text", "context must be a list of numbers or a JSON object of features"),
    (True, "context must be a list of numbers or a JSON object of features"),
]


@pytest.mark.parametrize("context,message", BAD, ids=[m[:20] for _, m in BAD])
def test_strict_types_in_object_contexts(sqlite_db, tmp_path, config, context, message):
    import json
    with TestClient(create_app(_hashed(sqlite_db, tmp_path, config))) as c:
        body = json.dumps({"context": context, "candidates": CANDS}).encode()
        r = c.post("/v1/rank", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422 and message in r.json()["error"], r.text
        assert c.app.state.service.store.counts()["decisions"] == 0


def test_without_a_featuriser_only_flat_numbers_are_taken(sqlite_db, tmp_path, config):
    with TestClient(create_app(config(sqlite_db, tmp_path, n_features=2))) as c:
        r = c.post("/v1/rank", json={"context": {"b": 2.0, "a": 1}, "candidates": CANDS})
        assert r.status_code == 200
        assert c.app.state.service.store.decision(r.json()["event_id"]).context == [1.0, 2.0]  # ordered by name
        r = c.post("/v1/rank", json={"context": {"a": 1.0, "country": "de"}, "candidates": CANDS})
        assert r.status_code == 422 and "feature 'country' is not a number" in r.json()["error"]
        assert "--context-features hashed" in r.json()["error"]
        r = c.post("/v1/rank", json={"context": {"a": 1.0, "b": True}, "candidates": CANDS})
        assert r.status_code == 422 and "'b' is a boolean" in r.json()["error"]
