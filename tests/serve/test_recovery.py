"""Restart recovery: newest valid snapshot + replay after its watermark == uninterrupted learning."""

import time

import numpy as np
from fastapi.testclient import TestClient

from recloop.serve.app import create_app
import pytest

from recloop.serve.learner import SnapshotError, build_policy, same_model
from recloop.serve.store import Store
from recloop.serve.tables import models


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


def test_restart_replays_after_the_newest_snapshot(db, tmp_path, config):
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
    with TestClient(create_app(cfg)) as c:
        svc = c.app.state.service
        assert svc.learner.version == 2 and svc.learner.replayed == 0 and svc.learner.watermark == 70
        assert same_model(svc.learner.policy, _reference(cfg, store))
    store.close()


def test_a_corrupt_active_snapshot_is_an_error_naming_it_never_a_fallback(db, tmp_path, config):
    """Before: a lost or corrupt head silently fell back to an older snapshot, and a model
    an operator had rolled back came back. Now the service refuses to start, names the
    snapshot, and serves an older one only when told to (``start_version``)."""
    cfg = config(db, tmp_path)
    with TestClient(create_app(cfg)) as c:
        _play(c, 40)
        _settle(c)
        assert c.post("/v1/models/snapshot", json={}).json()["version"] == 1
        _play(c, 30, start=40)
        _settle(c)
    store = Store(cfg.db, schema=cfg.db_schema)
    head = store.list_models()[0]
    assert head["note"] == "shutdown" and head["version"] == 2
    blob = bytearray(store.model_blob(2))
    blob[100:108] = b"garbage!"
    with store.engine.begin() as conn:
        conn.execute(models.update().where(models.c.version == 2).values(blob=bytes(blob)))
    with pytest.raises(SnapshotError, match=r"snapshot v2 \(shutdown, watermark 70\) fails its checksum.*--start-version"):
        with TestClient(create_app(cfg)):
            pass
    with TestClient(create_app(config(db, tmp_path, start_version=1))) as c:
        svc = c.app.state.service
        assert svc.learner.version == 1 and svc.learner.replayed == 30 and svc.learner.watermark == 70
        assert same_model(svc.learner.policy, _reference(cfg, store))
    store.close()


def test_two_services_in_one_directory_share_no_snapshot_files(tmp_path, config, monkeypatch):
    """Before: both wrote ./recloop-models and one's activate answered 409 "fails its checksum"."""
    monkeypatch.chdir(tmp_path)
    a = config((f"sqlite:///{tmp_path / 'a.db'}", None), tmp_path, snapshot_dir=None)
    b = config((f"sqlite:///{tmp_path / 'b.db'}", None), tmp_path, snapshot_dir=None)
    with TestClient(create_app(a)) as ca, TestClient(create_app(b)) as cb:
        for c in (ca, cb, ca, cb):
            _play(c, 5)
            _settle(c)
            assert c.post("/v1/models/snapshot", json={}).status_code == 201
        for c in (ca, cb):
            assert c.post("/v1/models/1/activate", json={}).status_code == 200
    stores = [p.name for p in tmp_path.iterdir() if not p.name.endswith(".personalizer")]  # the Personalizer API's
    assert sorted(stores) == ["a.db", "b.db"]  # no snapshot files anywhere


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


def test_old_snapshots_are_pruned_from_the_store(sqlite_db, tmp_path, config):
    with TestClient(create_app(config(sqlite_db, tmp_path, keep_snapshots=2))) as c:
        for _ in range(4):
            c.post("/v1/models/snapshot", json={})
        rows = c.app.state.service.store.list_models()
        assert [r["stored"] for r in rows] == [True, True, False, False, False]
        assert [m["stored"] for m in c.get("/v1/models").json()["models"]] == [True, True, False, False, False]
        r = c.post(f"/v1/models/{rows[-1]['version']}/activate", json={})
        assert r.status_code == 409 and "was pruned" in r.json()["error"]


@pytest.mark.parametrize("loss", ["stored policy", "legacy file"])
def test_a_lost_activated_snapshot_is_an_error_naming_it_never_a_fallback(sqlite_db, tmp_path, config, loss):
    """Before: when the activated (rolled-back) snapshot's file was lost, a restart fell back
    to the newest one it could read, and the model the operator rolled back returned."""
    cfg = config(sqlite_db, tmp_path)
    with TestClient(create_app(cfg)) as c:
        _play(c, 10)
        _settle(c)
        assert c.post("/v1/models/snapshot", json={}).json()["version"] == 1
        assert c.post("/v1/models/0/activate", json={}).json()["version"] == 2  # the roll-back
    store = Store(cfg.db, schema=cfg.db_schema)
    assert store.list_models()[0]["note"] == "activated v0"
    lost = {"blob": None} if loss == "stored policy" else {"blob": None, "path": str(tmp_path / "gone.npz")}
    with store.engine.begin() as conn:  # the legacy case: a snapshot from before they moved into the store
        conn.execute(models.update().where(models.c.version == 2).values(**lost))
    why = " was pruned" if loss == "stored policy" else ": its file .*gone.npz cannot be read"
    with pytest.raises(SnapshotError, match=rf"snapshot v2 \(activated v0, watermark 10\){why}.*--start-version"):
        with TestClient(create_app(cfg)):
            pass
    store.close()
