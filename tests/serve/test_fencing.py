"""The learner's role is a lease with a fencing token in the store: the drills of issue 22
(a second service through a symlink, after the first one's PostgreSQL sessions died,
after a take-over) now get the documented answer."""

import os
import re
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from recloop.serve.app import create_app
from recloop.serve.records import Decision, RewardIn
from recloop.serve.store import Store, StoreFenced

CTX = {"context": [0.1, 0.2, 0.3, 0.4], "candidates": [{"id": "a"}, {"id": "b"}]}


def _decision(event_id):
    return Decision(event_id=event_id, context=[0.0], candidates=[("a", None)], items=["a"], scores=[0.0],
                    propensities=[1.0], model_version="v0", request_hash="-")


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_sqlite_locks_the_database_file_not_its_name(tmp_path, config, link):
    """Before: ``ln -s m.db link.db`` gave a second writer (each learned ~350 of 707 rewards)."""
    cfg = config((f"sqlite:///{tmp_path / 'm.db'}", None), tmp_path)
    with TestClient(create_app(cfg)) as c:
        c.post("/v1/rank", json=CTX)
        (os.symlink if link == "symlink" else os.link)(tmp_path / "m.db", tmp_path / "link.db")
        other = config((f"sqlite:///{tmp_path / 'link.db'}", None), tmp_path / "other")
        with pytest.raises(RuntimeError, match="another recloop service is already writing to"):
            with TestClient(create_app(other)):
                pass
        assert c.post("/v1/rank", json=CTX).status_code == 200  # the first is untouched
    with TestClient(create_app(other)) as c2:  # once the first stopped, the link works
        assert c2.app.state.service.store.counts()["decisions"] == 2


def _pg(db):
    url, schema = db
    if url.startswith("sqlite"):
        pytest.skip("PostgreSQL drill")
    return url, schema


def test_a_writer_whose_lease_was_taken_over_commits_nothing(db):
    url, schema = _pg(db)
    first = Store(url, schema=schema).create()
    assert first.claim_writer(lease_s=0.5) == 1
    first.write_batch([_decision("e1")], [])
    time.sleep(0.7)  # the first one stalls past its lease (a long GC pause, a frozen VM, ...)
    second = Store(url, schema=schema)
    assert second.claim_writer(lease_s=0.5) == 2
    with pytest.raises(StoreFenced, match="token 1 is stale"):
        first.write_batch([_decision("e2")], [RewardIn("e1", 1.0)])
    with pytest.raises(StoreFenced):
        first.add_model(version=1, path="x", sha256="0" * 64, watermark=0, parent=None, note="stale")
    with pytest.raises(StoreFenced):
        first.renew_lease()
    assert second.counts() == {"decisions": 1, "rewards": 0} and second.list_models() == []
    second.write_batch([_decision("e3")], [RewardIn("e1", 1.0)])  # the new holder writes
    assert second.counts() == {"decisions": 2, "rewards": 1}
    first.close()
    second.close()


def test_the_v1_and_personalizer_leases_are_claimed_together_or_not_at_all(db):
    """Before: a second service took the first's lapsed /v1 lease, was then refused the
    Personalizer lease and stopped, leaving the first fenced on /v1: no learner at all."""
    url, schema = _pg(db)
    first, first_pz = Store(url, schema=schema), Store(url, schema=schema + "_pz")
    assert first.claim_writer(lease_s=5.0, partners=[first_pz]) == 1 and first_pz.token == 1
    with first.engine.begin() as conn:  # the /v1 lease lapsed; the Personalizer one is live
        conn.execute(text(f'UPDATE "{schema}".recloop_lease SET expires = 0'))
    second, second_pz = Store(url, schema=schema), Store(url, schema=schema + "_pz")
    with pytest.raises(RuntimeError, match=f"holds the learner lease of .*{schema}_pz"):
        second.claim_writer(lease_s=5.0, wait_s=0.3, partners=[second_pz])
    assert second.token is None and second_pz.token is None
    first.write_batch([_decision("e1")], [])  # the first is not fenced: its token still holds
    first_pz.renew_lease()
    with first.engine.begin() as conn:  # both lapse: the second takes both
        for name in (schema, schema + "_pz"):
            conn.execute(text(f'UPDATE "{name}".recloop_lease SET expires = 0'))
    assert second.claim_writer(lease_s=5.0, wait_s=0.3, partners=[second_pz]) == 2 and second_pz.token == 2
    with pytest.raises(StoreFenced):
        first_pz.renew_lease()
    second_pz.drop()
    for s in (first, first_pz, second):
        s.close()


def test_after_the_first_services_sessions_die_a_second_one_is_still_refused(db, tmp_path, config):
    """Before: the advisory lock lived on one pooled session; after a PostgreSQL restart a
    second service started, both learned, and rewards were silently never learned."""
    url, schema = _pg(db)
    with TestClient(create_app(config(db, tmp_path, lease_s=1.0))) as c:
        c.post("/v1/rank", json=CTX)
        store = Store(url, schema=schema)
        with store.engine.begin() as conn:  # what a PostgreSQL restart does to the first service's sessions
            killed = conn.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                       "WHERE application_name = :a AND pid <> pg_backend_pid()"),
                                  {"a": f"recloop:{schema}"}).scalar_one()
        assert killed >= 1
        with pytest.raises(RuntimeError, match="holds the learner lease"):
            with TestClient(create_app(config(db, tmp_path / "second", lease_s=1.0))):
                pass
        for _ in range(3):  # the first reconnects and goes on: it still holds the lease
            r = c.post("/v1/rank", json=CTX)
            if r.status_code == 200:
                break
        assert r.status_code == 200
        assert c.get("/readyz").status_code == 200
        store.close()


def test_a_fenced_service_refuses_writes_and_says_so_in_readyz(db, tmp_path, config):
    url, schema = _pg(db)
    with TestClient(create_app(config(db, tmp_path, lease_s=1.0))) as c:
        assert c.get("/readyz").json()["checks"]["lease"] == {"ok": True, "token": 1, "error": None}
        store = Store(url, schema=schema)
        with store.engine.begin() as conn:  # another learner claimed the lease
            conn.execute(text(f'UPDATE "{schema}".recloop_lease SET token = token + 1'))
        r = c.post("/v1/rank", json=CTX)
        assert r.status_code == 503
        ready = c.get("/readyz")
        assert ready.status_code == 503 and "taken over" in ready.json()["error"]
        assert store.counts() == {"decisions": 0, "rewards": 0}
        # the rank's batch, and the lease heartbeat's if it came due meanwhile (lease_s / 3)
        failures = re.search(r"^recloop_store_write_failures_total (\S+)$", c.get("/metrics").text, re.M)
        assert failures and float(failures.group(1)) >= 1
        store.close()


def test_a_start_that_fails_after_the_leases_were_claimed_gives_both_back(db, tmp_path, config, monkeypatch):
    """The service claims the Personalizer lease with its own; if the Personalizer part
    then fails to start, both leases (and SQLite's file locks) are free at once, not
    after the lease runs out."""
    from recloop.serve.personalizer.loop import sibling
    from recloop.serve.personalizer.tasks import Tasks

    async def broken(self):
        raise RuntimeError("settings unreadable")

    cfg = config(db, tmp_path, lease_s=30.0)
    monkeypatch.setattr(Tasks, "_load_settings", broken)
    with pytest.raises(RuntimeError, match="settings unreadable"):
        with TestClient(create_app(cfg)):
            pass
    for url, schema in ((cfg.db, cfg.db_schema), sibling(cfg)):
        store = Store(url, schema=schema)
        assert store.claim_writer(lease_s=1.0, wait_s=0) == 2  # no wait: nobody holds it
        store.close()
