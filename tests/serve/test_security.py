"""Admin routes need the admin key, full stop; state-changing routes take JSON only
(no cross-site text/plain or form posts); /metrics can require a key."""

import pytest
from fastapi.testclient import TestClient

from recloop.serve.app import create_app

USER, ADMIN, METRICS = "user-key-123", "admin-key-456", "metrics-key-789"
CTX = {"context": [0.1, 0.2, 0.3, 0.4], "candidates": [{"id": "a"}, {"id": "b"}]}


def _admin_calls(c, headers):
    return [c.get("/v1/models", headers=headers).status_code,
            c.post("/v1/models/snapshot", json={}, headers=headers).status_code,
            c.post("/v1/models/0/activate", json={}, headers=headers).status_code,
            c.get("/v1/logs", headers=headers).status_code]


@pytest.mark.parametrize("api_key", [USER, None], ids=["only-rank-key", "no-keys"])
def test_without_an_admin_key_admin_routes_are_refused(sqlite_db, tmp_path, config, api_key):
    cfg = config(sqlite_db, tmp_path, api_key=api_key, insecure_admin=False)
    with TestClient(create_app(cfg)) as c:
        for headers in ({"X-API-Key": USER}, {}):
            assert _admin_calls(c, headers) == [403] * 4
        r = c.get("/v1/models", headers={"X-API-Key": USER})
        assert "RECLOOP_ADMIN_KEY" in r.json()["error"] and "--insecure-admin" in r.json()["error"]
        assert c.post("/v1/rank", json=CTX, headers={"X-API-Key": USER}).status_code == 200
        assert [m["version"] for m in c.app.state.service.store.list_models()] == [0]  # nothing snapshotted


def test_insecure_admin_opens_them_explicitly(sqlite_db, tmp_path, config):
    with TestClient(create_app(config(sqlite_db, tmp_path, insecure_admin=True))) as c:
        assert _admin_calls(c, {}) == [200, 201, 200, 200]
    with TestClient(create_app(config(sqlite_db, tmp_path / "k", admin_key=ADMIN, insecure_admin=True))) as c:
        assert _admin_calls(c, {}) == [401] * 4  # a configured admin key always wins


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None])
def test_state_changing_routes_take_json_only(sqlite_db, tmp_path, config, ctype):
    """What any web page can make a browser send cross-site, without a CORS preflight."""
    with TestClient(create_app(config(sqlite_db, tmp_path, insecure_admin=True))) as c:
        ev = c.post("/v1/rank", json=CTX).json()["event_id"]
        c.post("/v1/models/snapshot", json={})
        headers = {} if ctype is None else {"content-type": ctype}
        for path, raw in [("/v1/models/0/activate", b""), ("/v1/models/snapshot", b"{}"), ("/v1/rank", b"{}"),
                          (f"/v1/events/{ev}/reward", b'{"value": 1}')]:
            r = c.post(path, content=raw, headers=headers)
            assert r.status_code == 415 and "application/json" in r.json()["error"], (path, r.text)
        svc = c.app.state.service
        assert [m["version"] for m in svc.store.list_models()] == [1, 0] and svc.learner.version == 1
        assert svc.store.counts() == {"decisions": 1, "rewards": 0}
        r = c.post(f"/v1/events/{ev}/reward", content=b'{"value": 1}',
                   headers={"content-type": "Application/JSON; charset=utf-8"})
        assert r.status_code == 204


def test_metrics_can_require_a_key(sqlite_db, tmp_path, config):
    cfg = config(sqlite_db, tmp_path, admin_key=ADMIN, metrics_key=METRICS)
    with TestClient(create_app(cfg)) as c:
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers={"X-API-Key": "wrong-key-000"}).status_code == 401
        assert c.get("/metrics", headers={"X-API-Key": USER}).status_code == 401
        for headers in ({"X-API-Key": METRICS}, {"Authorization": f"Bearer {METRICS}"}, {"X-API-Key": ADMIN}):
            r = c.get("/metrics", headers=headers)
            assert r.status_code == 200 and "recloop_decisions_total" in r.text
    with TestClient(create_app(config(sqlite_db, tmp_path / "open"))) as c:
        assert c.get("/metrics").status_code == 200  # no metrics key: open, as before
