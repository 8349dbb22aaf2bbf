"""Restart recovery: newest valid snapshot + replay after its watermark == uninterrupted learning."""

import time

import numpy as np
from fastapi.testclient import TestClient

from recloop.serve.app import create_app
from recloop.serve.learner import build_policy, same_model
from recloop.serve.store import Store


def _play(c, n, start=0, seed=0):
    rng = np.random.default_rng(seed + start)
    for _ in range(start, start + n):
        r = c.post("/v1/rank", json={"context": rng.normal(size=4).tolist(),
                                     "candidates": [{"id": f"i{k}"} for k in range(5)]}).json()
        c.post(f"/v1/events/{r['event_id']}/reward", json={"value": float(rng.random() < 0.3)})


def _settle(c):
    svc = c.app.state.service
    end = time.monotonic() + 10
    while svc.learner.watermark < svc.store.max_reward_seq() or svc.learner.pending:
        assert time.monotonic() < end
        time.sleep(0.01)
    return svc


def _reference(cfg, store, after=0, base=None):
    policy = base or build_policy(cfg)
    policy.update_many(j.feedback for j in store.joined_after(after))
    return policy


def test_restart_replays_after_the_newest_valid_snapshot(db, tmp_path, config):
    cfg = config(db, tmp_path)
    with TestClient(create_app(cfg)) as c:
        _play(c, 40)
        _settle(c)
        assert c.post("/v1/models/snapshot", json={}).json()["watermark"] == 40
        _play(c, 30, start=40)
        _settle(c)
    store = Store(cfg.db, schema=cfg.db_schema)
    models = store.list_models()
    assert [m["note"] for m in models] == ["shutdown", "manual", "initial"]
    # The shutdown snapshot is corrupted on disk: recovery must fall back to v1 and replay 30 rewards.
    with open(models[0]["path"], "r+b") as fh:
        fh.seek(100)
        fh.write(b"garbage!")
    with TestClient(create_app(cfg)) as c:
        svc = c.app.state.service
        assert svc.learner.replayed == 30 and svc.learner.watermark == 70
        assert same_model(svc.learner.policy, _reference(cfg, store))
        assert svc.learner.policy.t_ == 70
    store.close()


def test_rollback_survives_restart(sqlite_db, tmp_path, config):
    cfg = config(sqlite_db, tmp_path)
    with TestClient(create_app(cfg)) as c:
        _play(c, 20)
        _settle(c)
        head = c.post("/v1/models/0/activate", json={}).json()
        assert head["watermark"] == 20
        _play(c, 10, start=20)
        svc = _settle(c)
        live = svc.learner.policy
        store = svc.store
        expected = _reference(cfg, store, after=20)  # v0 (untrained) + only the rewards after the roll-back
        assert same_model(live, expected) and live.t_ == 10
    with TestClient(create_app(cfg)) as c:
        assert same_model(c.app.state.service.learner.policy, expected)


def test_a_record_the_policy_cannot_learn_is_skipped_not_fatal(sqlite_db, tmp_path, config):
    from recloop.core.types import Feedback
    from recloop.serve.learner import OnlineLearner
    from recloop.serve.store import Joined
    cfg = config(sqlite_db, tmp_path)
    learner = OnlineLearner(cfg, Store(cfg.db))
    good = np.ones(4)
    learner.enqueue([Joined(1, Feedback("a", 1.0, good)), Joined(2, Feedback("a", 1.0, np.ones(3))),
                     Joined(3, Feedback("b", 0.0, good))])
    assert learner.learn_pending() == 3
    assert learner.watermark == 3 and learner.skipped == 1 and learner.policy.t_ == 2


def test_a_second_service_on_the_same_store_is_refused(db, tmp_path, config):
    import pytest
    cfg = config(db, tmp_path, lease_s=1.0)
    with TestClient(create_app(cfg)):
        with pytest.raises(RuntimeError, match="already writing|holds the learner lease"):
            with TestClient(create_app(config(db, tmp_path / "other", lease_s=1.0))):
                pass
    with TestClient(create_app(cfg)) as c:  # released at shutdown
        assert c.get("/healthz").status_code == 200


def test_old_snapshot_files_are_pruned(sqlite_db, tmp_path, config):
    from pathlib import Path
    with TestClient(create_app(config(sqlite_db, tmp_path, keep_snapshots=2))) as c:
        for _ in range(4):
            c.post("/v1/models/snapshot", json={})
        rows = c.app.state.service.store.list_models()
        assert [Path(r["path"]).exists() for r in rows] == [True, True, False, False, False]
        r = c.post(f"/v1/models/{rows[-1]['version']}/activate", json={})
        assert r.status_code == 409 and "missing" in r.json()["error"]
