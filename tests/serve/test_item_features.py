"""A served policy that scores items by their features (hybrid LinUCB) gets them.
Before: the service passed no features, so every new item scored alike; a reward was
learned with whatever features the item had last, not those it was shown with."""

import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from recloop.agents.bandits import HybridLinUCB
from recloop.core.types import Feedback
from recloop.serve.app import create_app
from recloop.serve.learner import build_policy

HYBRID = dict(policy="hybrid-linucb", n_features=3, policy_params={"n_item_features": 3, "alpha": 0.3})


def _settle(svc, n, timeout=20.0):
    end = time.monotonic() + timeout
    while svc.learner.watermark < n:
        assert time.monotonic() < end, f"learned {svc.learner.watermark} of {n}"
        time.sleep(0.01)


def _learned(policy):
    """The learned statistics: the shared model and each rewarded item's own."""
    per_item = {item: {k: v for k, v in state.items() if k != "features_"}
                for item, state in policy.per_item_state().items()}
    return policy.A0_inv_, policy.b0_, per_item


def _same_learning(live, reference):
    """``live`` learned exactly what ``reference`` learned (``live`` may know more items:
    ranked, never rewarded, still at their fresh state)."""
    a0, b0, items = _learned(live)
    r0, rb, ref_items = _learned(reference)
    fresh = {k: v for k, v in reference.fresh_item_state().items() if k != "features_"}
    return (np.array_equal(a0, r0) and np.array_equal(b0, rb)
            and all(all(np.array_equal(state[k], ref_items.get(item, fresh)[k]) for k in state)
                    for item, state in items.items()))


def test_served_hybrid_linucb_prefers_the_right_unseen_item(sqlite_db, tmp_path, config):
    """Rewards depend on the items' features only (click rate 0.5 + 0.2 u.g for user u,
    item g): what is learned about features must carry over to items never shown.
    Ignoring the features, every unseen item looks the same (the best of 5: 1 in 5)."""
    cfg = config(sqlite_db, tmp_path, **HYBRID, sqlite_synchronous="OFF")
    rng = np.random.default_rng(0)
    train = rng.normal(size=(30, 2))

    def click_rate(u, g):
        return np.clip(0.5 + 0.2 * (g @ u), 0.05, 0.95)

    with TestClient(create_app(cfg)) as c:
        svc = c.app.state.service
        for _ in range(600):
            u = rng.normal(size=2)
            pick = rng.choice(len(train), 6, replace=False)
            r = c.post("/v1/rank", json={"context": [1.0, *u], "candidates": [
                {"id": f"item-{j}", "features": [1.0, *train[j]]} for j in pick]})
            assert r.status_code == 200, r.text
            chosen = int(r.json()["chosen_id"].split("-")[1])
            value = float(rng.random() < click_rate(u, train[chosen]))
            assert c.post(f"/v1/events/{r.json()['event_id']}/reward", json={"value": value}).status_code == 204
        _settle(svc, 600)
        assert svc.learner.skipped == 0
        # the learner learned the features each reward was shown with: a replay of the log agrees
        reference = build_policy(cfg)
        reference.update_many(j.feedback for j in svc.store.joined_after(0))
        assert _same_learning(svc.learner.policy, reference)

        best, gain = 0, []
        for t in range(100):
            u = rng.normal(size=2)
            new = rng.normal(size=(5, 2))
            r = c.post("/v1/rank", json={"context": [1.0, *u], "candidates": [
                {"id": f"new-{t}-{k}", "features": [1.0, *g]} for k, g in enumerate(new)]}).json()
            k = int(r["chosen_id"].rsplit("-", 1)[1])
            rates = click_rate(u, new)
            best += k == rates.argmax()
            gain.append(rates[k] - rates.mean())
    assert best >= 45, best  # at random about 20 of 100
    assert np.mean(gain) > 0.1, np.mean(gain)


def test_a_reward_is_learned_with_the_features_its_item_was_shown_with(db, tmp_path, config):
    cfg = config(db, tmp_path, **HYBRID)
    x = [1.0, 0.5, -0.5]
    shown, later = [1.0, 2.0, 0.0], [1.0, -3.0, 1.0]
    with TestClient(create_app(cfg)) as c:
        svc = c.app.state.service
        first = c.post("/v1/rank", json={"context": x, "candidates": [{"id": "a", "features": shown}]}).json()
        # the item's features change before the reward of the first decision comes
        c.post("/v1/rank", json={"context": x, "candidates": [{"id": "a", "features": later}]})
        assert c.post(f"/v1/events/{first['event_id']}/reward", json={"value": 1.0}).status_code == 204
        _settle(svc, 1)
        live = svc.learner.policy
        expected = HybridLinUCB(n_features=3, n_item_features=3, alpha=0.3, seed=0)
        expected.set_item_features(["a"], [shown])
        expected.update(Feedback("a", 1.0, np.array(x)))  # learned with the features recorded for "a"
        assert _same_learning(live, expected)
        np.testing.assert_array_equal(svc.store.decision(first["event_id"]).candidates[0][1], shown)
        snapshot = _learned(live)
    # a restart from the first snapshot replays the log: the same model
    with TestClient(create_app(config(db, tmp_path, **HYBRID, start_version=0))) as c:
        replayed = c.app.state.service.learner.policy
        assert c.app.state.service.learner.replayed == 1
        a0, b0, items = _learned(replayed)
        assert np.array_equal(a0, snapshot[0]) and np.array_equal(b0, snapshot[1])
        assert all(np.array_equal(items["a"][k], snapshot[2]["a"][k]) for k in items["a"])


@pytest.mark.parametrize("candidates,message", [
    ([{"id": "a", "features": [1.0, 0.0, 0.0]}, {"id": "b"}], "candidate 'b' has no features"),
    ([{"id": "a", "features": [1.0, 0.0]}, {"id": "b", "features": [1.0, 0.0]}], "candidate 'a' has 2 features"),
    ([{"id": "a", "features": [1.0, 0.0, 0.0]}, {"id": "b", "features": [1.0]}], "candidate 'b' has 1 features"),
])
def test_a_candidate_without_the_policys_item_features_is_refused(sqlite_db, tmp_path, config, candidates, message):
    with TestClient(create_app(config(sqlite_db, tmp_path, **HYBRID))) as c:
        r = c.post("/v1/rank", json={"context": [1.0, 0.0, 0.0], "candidates": candidates})
        assert r.status_code == 422 and message in r.json()["error"], r.text
        assert "hybrid-linucb policy scores every candidate by its 3 item features" in r.json()["error"]
        assert c.app.state.service.store.counts()["decisions"] == 0
        # an excluded candidate needs none: it is not scored
        r = c.post("/v1/rank", json={"context": [1.0, 0.0, 0.0], "excluded": ["b"],
                                     "candidates": [{"id": "a", "features": [1.0, 0.0, 0.0]}, {"id": "b"}]})
        assert r.status_code == 200 and r.json()["chosen_id"] == "a"
