"""Scale-out on one PostgreSQL store: rankers log concurrently, the one learner learns
in reward order exactly once and publishes versions the rankers pick up."""

import threading

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from recloop.serve.app import create_app
from recloop.serve.learner import build_policy, load_snapshot, same_model
from recloop.serve.runner import BackgroundServer, wait_until
from recloop.serve.store import Store


def _pg(db):
    if db[0].startswith("sqlite"):
        pytest.skip("scale-out needs PostgreSQL")
    return db


def test_roles_need_postgresql(sqlite_db, tmp_path, config):
    with pytest.raises(ValueError, match="needs a PostgreSQL store"):
        config(sqlite_db, tmp_path, role="ranker")


def test_two_rankers_and_a_learner(db, tmp_path, config):
    db = _pg(db)
    learner_cfg = config(db, tmp_path, role="learner", snapshot_every_s=0.3, lease_s=2.0)
    ranker_cfg = config(db, tmp_path, role="ranker", model_refresh_s=0.2)
    with BackgroundServer(create_app(learner_cfg)) as lurl, \
            BackgroundServer(create_app(ranker_cfg)) as r1, BackgroundServer(create_app(ranker_cfg)) as r2:
        rankers = [r1, r2]
        acked: dict[str, float] = {}
        versions: list[str] = []
        lock = threading.Lock()

        def client(n):
            rng = np.random.default_rng(n)
            with httpx.Client(timeout=30) as http:
                for i in range(40):
                    url = rankers[(n + i) % 2]
                    r = http.post(f"{url}/v1/rank", json={"context": rng.normal(size=4).tolist(),
                                                          "candidates": [{"id": f"i{k}"} for k in range(5)]})
                    assert r.status_code == 200, r.text
                    ev = r.json()
                    value = float(rng.random() < 0.5)
                    other = rankers[(n + i + 1) % 2]  # the reward goes to the other ranker
                    assert http.post(f"{other}/v1/events/{ev['event_id']}/reward",
                                     json={"value": value}).status_code == 204
                    with lock:
                        acked[ev["event_id"]] = value
                        versions.append(ev["model_version"])

        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(acked) == 160
        # the learner learns every acknowledged reward once, in seq order
        wait_until(lambda: httpx.get(f"{lurl}/healthz").json()["watermark"] == 160)
        store = Store(db[0], schema=db[1])
        assert store.counts() == {"decisions": 160, "rewards": 160}
        for ev, value in acked.items():
            assert store.reward(ev)["value"] == value
        # published versions reach the rankers (within model_refresh_s when the machine is
        # not busy; CI's two cores under -n 2 once took over 5 s, so the default wait)
        head = httpx.post(f"{lurl}/v1/models/snapshot", json={}).json()
        wait_until(lambda: all(httpx.post(f"{u}/v1/rank", json={"context": [0, 0, 0, 0], "candidates": [{"id": "x"}]})
                           .json()["model_version"] == f"v{head['version']}" for u in rankers))
        assert len(set(versions)) > 1  # decisions were made by several published versions, each recorded
        served = load_snapshot(store, head["version"])
        reference = build_policy(learner_cfg)
        reference.update_many(j.feedback for j in store.joined_after(0))
        assert same_model(served, reference) and served.t_ == 160
        # roles: the learner ranks nothing, rankers manage no models
        r = httpx.post(f"{lurl}/v1/rank", json={"context": [0, 0, 0, 0], "candidates": [{"id": "x"}]})
        assert r.status_code == 421 and "ranker" in r.json()["error"]
        assert httpx.post(f"{r1}/v1/models/snapshot", json={}).status_code == 409
        assert httpx.get(f"{r1}/readyz").status_code == 200 and httpx.get(f"{lurl}/readyz").status_code == 200
        store.close()


def test_rankers_agree_on_one_reward_and_one_decision_per_event(db, tmp_path, config):
    db = _pg(db)
    with TestClient(create_app(config(db, tmp_path, role="learner", lease_s=2.0))), \
            TestClient(create_app(config(db, tmp_path, role="ranker"))) as a, \
            TestClient(create_app(config(db, tmp_path, role="ranker"))) as b:
        body = {"event_id": "ev-1", "context": [1, 0, 0, 0], "candidates": [{"id": "x"}, {"id": "y"}]}
        out = []
        ts = [threading.Thread(target=lambda c=c: out.append(c.post("/v1/rank", json=body))) for c in (a, b)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert [r.status_code for r in out] == [200, 200] and out[0].json() == out[1].json()
        assert b.post("/v1/rank", json={**body, "k": 2}).status_code == 409
        codes = []
        ts = [threading.Thread(target=lambda c=c, v=v: codes.append(
            c.post("/v1/events/ev-1/reward", json={"value": v}).status_code)) for c, v in ((a, 1.0), (b, 0.0))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert sorted(codes) == [204, 409]
        assert a.post("/v1/events/ev-2/reward", json={"value": 1}).status_code == 404
        store = Store(db[0], schema=db[1])
        assert store.counts()["decisions"] == 1
        store.close()
