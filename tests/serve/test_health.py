"""/healthz says the process is alive; /readyz says whether it can serve, and why not.
Before: with the store down or full, /healthz said ok while every write answered 503 and
the log said only "OperationalError"."""

import logging
import time

from fastapi.testclient import TestClient
from sqlalchemy import event, text

from recloop.serve.app import create_app
from recloop.serve.store import Store
from recloop.serve.runner import wait_until

CTX = {"context": [0.1, 0.2, 0.3, 0.4], "candidates": [{"id": "a"}, {"id": "b"}]}


def test_readyz_when_all_is_well(db, tmp_path, config):
    with TestClient(create_app(config(db, tmp_path))) as c:
        r = c.get("/readyz")
        assert r.status_code == 200 and r.json()["status"] == "ready"
        assert set(r.json()["checks"]) == {"model", "store", "lease", "learning"}
        assert "recloop_ready 1.0" in c.get("/metrics").text
        assert c.get("/healthz").json()["status"] == "ok"


def test_a_store_that_cannot_be_written_is_not_ready_and_the_log_names_the_cause(db, tmp_path, config, caplog):
    url, schema = db
    if url.startswith("sqlite"):
        # a full disk, for real: SQLite answers "database or disk is full" once the
        # database may not grow (the same error as ENOSPC), on every new connection
        cfg = config(db, tmp_path, lease_s=0.6)
        with TestClient(create_app(cfg)) as c, caplog.at_level(logging.ERROR, "recloop.serve"):
            svc = c.app.state.service
            pages = svc.store.engine.connect().exec_driver_sql("PRAGMA page_count").scalar()
            event.listen(svc.store.engine, "connect",
                         lambda conn, _r: conn.execute(f"PRAGMA max_page_count = {pages}"))
            svc.store._drop_writer_conn()
            svc.store.engine.dispose()
            big = {**CTX, "candidates": [{"id": f"item-{i}", "features": [float(i)] * 64} for i in range(200)]}
            r = c.post("/v1/rank", json=big)
            assert r.status_code == 503
            ready = c.get("/readyz")
            assert ready.status_code == 503 and "full" in ready.json()["checks"]["store"]["error"]
            assert c.get("/healthz").status_code == 200  # alive, not ready
            assert any("database or disk is full" in rec.getMessage() for rec in caplog.records)
            assert "recloop_ready 0.0" in c.get("/metrics").text
        return
    # PostgreSQL: the service's tables vanish from under it (as when the database it
    # points at is replaced), then come back
    with TestClient(create_app(config(db, tmp_path, lease_s=0.6))) as c, caplog.at_level(logging.ERROR):
        assert c.get("/readyz").status_code == 200
        admin = Store(url)
        with admin.engine.begin() as conn:
            conn.execute(text(f'ALTER SCHEMA "{schema}" RENAME TO "{schema}_away"'))
        try:
            assert c.post("/v1/rank", json=CTX).status_code == 503
            wait_until(lambda: c.get("/readyz").status_code == 503)
            error = c.get("/readyz").json()["checks"]["store"]["error"]
            assert "does not exist" in error, error
            assert any("does not exist" in rec.getMessage() for rec in caplog.records)
        finally:
            with admin.engine.begin() as conn:
                conn.execute(text(f'ALTER SCHEMA "{schema}_away" RENAME TO "{schema}"'))
        wait_until(lambda: c.get("/readyz").status_code == 200)
        assert c.post("/v1/rank", json=CTX).status_code == 200
        admin.close()


def test_a_learner_behind_its_lag_bound_is_not_ready(sqlite_db, tmp_path, config):
    cfg = config(sqlite_db, tmp_path, learn_interval_s=2.0, max_learning_lag_s=0.3)
    with TestClient(create_app(cfg)) as c:
        ev = c.post("/v1/rank", json=CTX).json()["event_id"]
        assert c.post(f"/v1/events/{ev}/reward", json={"value": 1}).status_code == 204
        time.sleep(0.5)
        r = c.get("/readyz")
        assert r.status_code == 503 and not r.json()["checks"]["learning"]["ok"], r.json()
        wait_until(lambda: c.get("/readyz").status_code == 200)
        assert c.app.state.service.learner.watermark == 1


def test_readyz_names_only_the_kind_of_error_without_the_admin_key(sqlite_db, tmp_path, config):
    cfg = config(sqlite_db, tmp_path, lease_s=30, insecure_admin=False, admin_key="admin-key-456")
    with TestClient(create_app(cfg)) as c:
        svc = c.app.state.service
        svc.lease_error = "OperationalError: connection to server at \"10.0.0.7\", port 5432 failed"
        body = c.get("/readyz").json()
        assert body["checks"]["store"]["error"].startswith("OperationalError (details:") and "10.0.0.7" not in str(body)
        body = c.get("/readyz", headers={"X-API-Key": "admin-key-456"}).json()
        assert "10.0.0.7" in body["checks"]["store"]["error"]


def test_a_read_only_database_is_not_ready_and_the_log_names_the_cause(sqlite_db, tmp_path, config, caplog):
    """As a database file the service may no longer write (SQLite's query_only: the
    same SQLITE_READONLY a read-only file gives; root ignores file modes)."""
    with TestClient(create_app(config(sqlite_db, tmp_path, lease_s=0.6))) as c, \
            caplog.at_level(logging.ERROR, "recloop.serve"):
        svc = c.app.state.service
        event.listen(svc.store.engine, "connect", lambda conn, _r: conn.execute("PRAGMA query_only = 1"))
        svc.store._drop_writer_conn()
        svc.store.engine.dispose()
        assert c.post("/v1/rank", json=CTX).status_code == 503
        wait_until(lambda: c.get("/readyz").status_code == 503)
        assert "readonly" in c.get("/readyz").json()["checks"]["store"]["error"]
        assert c.get("/healthz").status_code == 200  # alive, not ready
        assert any("readonly database" in rec.getMessage() for rec in caplog.records)
