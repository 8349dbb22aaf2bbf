"""HTTP behaviour of the service (httpx through Starlette's TestClient, lifespan included)."""

import asyncio
import io
import time

import numpy as np
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from recloop.serve.app import create_app

USER, ADMIN = "user-key-123", "admin-key-456"
U, A = {"X-API-Key": USER}, {"X-API-Key": ADMIN}
CANDS = [{"id": "a", "features": [1.0, 0.0]}, {"id": "b"}, {"id": 7}]


def body(**kw):
    return {"context": [0.1, 0.2, 0.3, 0.4], "candidates": CANDS, **kw}


@pytest.fixture
def client(db, tmp_path, config):
    app = create_app(config(db, tmp_path, api_key=USER, admin_key=ADMIN))
    with TestClient(app) as c:
        yield c


def _counts(client):
    return client.app.state.service.store.counts()


def test_rank_reward_learn_round_trip(client):
    r = client.post("/v1/rank", json=body(k=2), headers=U)
    assert r.status_code == 200
    out = r.json()
    assert out["chosen_id"] == out["ranking"][0]["id"] and len(out["ranking"]) == 2
    assert {x["id"] for x in out["ranking"]} <= {"a", "b", "7"}  # integer ids come back as strings
    assert abs(sum(1 / 3 for _ in range(3)) - 1) < 1e-9 and out["ranking"][0]["probability"] == pytest.approx(1 / 3)
    ev = out["event_id"]
    stored = client.app.state.service.store.decision(ev)  # durable before the answer
    assert stored.chosen == out["chosen_id"] and stored.candidates[0] == ("a", [1.0, 0.0])
    assert client.post(f"/v1/events/{ev}/reward", json={"value": 1}, headers=U).status_code == 204
    assert client.post(f"/v1/events/{ev}/reward", json={"value": 1.0}, headers=U).status_code == 204
    r = client.post(f"/v1/events/{ev}/reward", json={"value": 0}, headers=U)
    assert r.status_code == 409 and "already has reward 1.0" in r.json()["error"]
    assert client.post("/v1/events/unknown-1/reward", json={"value": 1}, headers=U).status_code == 404
    r = client.post(f"/v1/events/{ev}/reward", json={"value": 1, "item_id": "zz"}, headers=U)
    assert r.status_code == 422 and "not the item chosen" in r.json()["error"]
    svc = client.app.state.service
    for _ in range(100):
        if svc.learner.watermark >= 1:
            break
        time.sleep(0.01)
    assert svc.learner.watermark == 1 and svc.learner.policy.t_ == 1
    assert _counts(client) == {"decisions": 1, "rewards": 1}


def test_client_event_id_is_idempotent(client):
    first = client.post("/v1/rank", json=body(event_id="req-1"), headers=U).json()
    again = client.post("/v1/rank", json=body(event_id="req-1"), headers=U).json()
    assert again == first
    r = client.post("/v1/rank", json=body(event_id="req-1", k=2), headers=U)
    assert r.status_code == 409
    assert _counts(client)["decisions"] == 1


BAD_RANK = [
    (b'{"context": [1, 2', "malformed JSON", 400),
    (b'{"context": [NaN, 0, 0, 0], "candidates": [{"id": "a"}]}', "finite", 422),
    (b'{"context": [Infinity, 0, 0, 0], "candidates": [{"id": "a"}]}', "finite", 422),
    (b'{"context": [1e999, 0, 0, 0], "candidates": [{"id": "a"}]}', "finite", 422),
    (b'{"context": ["1", 0, 0, 0], "candidates": [{"id": "a"}]}', "context.0", 422),
    (b'{"context": [true, 0, 0, 0], "candidates": [{"id": "a"}]}', "context.0", 422),
    (b'{"context": [0, 0, 0, 0], "candidates": []}', "candidates", 422),
    (b'{"context": [0, 0, 0, 0], "candidates": [{"id": "a"}, {"id": "a"}]}', "duplicate candidate id 'a'", 422),
    (b'{"context": [0, 0, 0, 0], "candidates": [{"id": "a"}], "k": 2}', "k=2 exceeds the 1", 422),
    (b'{"context": [0, 0, 0, 0], "candidates": [{"id": "a"}], "k": 0}', "k", 422),
    (b'{"context": [0, 0, 0, 0], "candidates": [{"id": "a"}], "excluded": ["a"]}', "every candidate", 422),
    (b'{"context": [0, 0, 0], "candidates": [{"id": "a"}]}', "3 features; the policy expects 4", 422),
    (b'{"candidates": [{"id": "a"}]}', "context is required", 422),
    (b'{"context": [0, 0, 0, 0], "candidates": [{"id": null}]}', "candidates.0.id", 422),
    (b'{"context": [0, 0, 0, 0], "candidates": [{"id": "a", "features": [NaN]}]}', "features", 422),
    (b'{"context": [0, 0, 0, 0], "candidates": [{"id": "a"}], "surprise": 1}', "surprise", 422),
    (b'{"context": [0, 0, 0, 0], "candidates": [{"id": "a"}], "event_id": "bad id!"}', "event_id", 422),
    (b'[]', "body", 422),
]


@pytest.mark.parametrize("raw,message,status", BAD_RANK, ids=[m for _, m, _ in BAD_RANK])
def test_bad_rank_requests_get_precise_errors_and_store_nothing(sqlite_db, tmp_path, config, raw, message, status):
    with TestClient(create_app(config(sqlite_db, tmp_path))) as c:
        r = c.post("/v1/rank", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == status, r.text
        assert message in r.json()["error"], r.json()
        assert _counts(c) == {"decisions": 0, "rewards": 0}


def test_bad_rewards_and_oversized_bodies(client):
    ev = client.post("/v1/rank", json=body(), headers=U).json()["event_id"]
    for raw, status in [(b'{"value": NaN}', 422), (b'{"value": "1"}', 422), (b'{}', 422), (b'{"value": 1', 400),
                        (b'{"value": true}', 422)]:
        r = client.post(f"/v1/events/{ev}/reward", content=raw, headers={**U, "content-type": "application/json"})
        assert r.status_code == status, (raw, r.text)
    r = client.post("/v1/events/bad%20id/reward", json={"value": 1}, headers=U)
    assert r.status_code == 422
    big = b'{"context": [0, 0, 0, 0], "candidates": [' + b'{"id": "x"},' * 30000 + b'{"id": "y"}]}'
    r = client.post("/v1/rank", content=big, headers={**U, "content-type": "application/json"})
    assert r.status_code == 413 and "exceeds the limit" in r.json()["error"]

    def chunks():  # no Content-Length: the limit still holds
        for _ in range(400):
            yield b" " * 1024
    r = client.post("/v1/rank", content=chunks(), headers={**U, "content-type": "application/json"})
    assert r.status_code == 413
    assert _counts(client) == {"decisions": 1, "rewards": 0}


def test_keys(client):
    assert client.post("/v1/rank", json=body()).status_code == 401
    r = client.post("/v1/rank", json=body(), headers={"X-API-Key": "wrong-key-000"})
    assert r.status_code == 401 and "wrong-key" not in r.text
    assert client.post("/v1/rank", json=body(), headers=A).status_code == 200  # admin may rank too
    assert client.get("/v1/models", headers=U).status_code == 403
    assert client.post("/v1/models/snapshot", json={}, headers=U).status_code == 403
    assert client.get("/v1/logs", headers=U).status_code == 403
    assert client.get("/v1/models").status_code == 401
    assert client.get("/v1/models", headers=A).status_code == 200
    assert client.get("/healthz").status_code == 200
    assert _counts(client)["decisions"] == 1


def test_cors_is_off_by_default(client):
    r = client.options("/v1/rank", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers
    r = client.post("/v1/rank", json=body(), headers={**U, "Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in r.headers


def test_unknown_policy_is_refused_at_start(sqlite_db, tmp_path, config):
    with pytest.raises(KeyError, match="unknown policy 'linucbb'.*linucb"):
        create_app(config(sqlite_db, tmp_path, policy="linucbb"))
    with pytest.raises(TypeError, match="alpah"):
        create_app(config(sqlite_db, tmp_path, policy_params={"alpah": 1.0}))


def test_models_snapshot_activate_and_logs(client):
    events = []
    for i in range(6):
        ev = client.post("/v1/rank", json=body(context=[i, 1, 0, 0]), headers=U).json()
        client.post(f"/v1/events/{ev['event_id']}/reward", json={"value": i % 2}, headers=U)
        events.append(ev)
    svc = client.app.state.service
    _wait(lambda: svc.learner.watermark == 6)
    snap = client.post("/v1/models/snapshot", json={}, headers=A).json()
    assert snap["version"] == 1 and snap["watermark"] == 6 and snap["parent"] == 0
    models = client.get("/v1/models", headers=A).json()
    assert [m["version"] for m in models["models"]] == [1, 0] and models["models"][0]["active"]
    r = client.post("/v1/models/0/activate", json={}, headers=A)
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["watermark"] == 6
    assert svc.learner.policy.t_ == 0  # rolled back to the untrained v0
    assert client.post("/v1/models/99/activate", json={}, headers=A).status_code == 404
    after = client.post("/v1/rank", json=body(), headers=U).json()
    assert after["model_version"] == "v2"

    r = client.get("/v1/logs", headers=A)
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(r.content))
    assert table.column_names == ["event_id", "timestamp", "policy_version", "action", "propensity", "position",
                                  "reward", "context", "candidates"]  # the one schema of recloop.data.logs
    rows = table.to_pylist()
    assert [row["event_id"] for row in rows] == [e["event_id"] for e in events] + [after["event_id"]]
    assert rows[3]["context"] == [3.0, 1.0, 0.0, 0.0] and rows[3]["reward"] == 1.0
    assert rows[-1]["reward"] is None and rows[0]["candidates"] == ["a", "b", "7"]
    assert all(row["propensity"] == pytest.approx(e["ranking"][0]["probability"]) for row, e in zip(rows, events))
    assert pq.read_table(io.BytesIO(client.get("/v1/logs?since=4102444800", headers=A).content)).num_rows == 0
    assert client.get("/v1/logs?since=2020-01-01T00:00:00", headers=A).status_code == 200
    assert client.get("/v1/logs?since=yesterday", headers=A).status_code == 422


def test_metrics_stats_and_default_reward(sqlite_db, tmp_path, config):
    cfg = config(sqlite_db, tmp_path, reward_wait_s=0.2, default_reward=0.0)
    with TestClient(create_app(cfg)) as c:
        ev = c.post("/v1/rank", json=body()).json()["event_id"]
        svc = c.app.state.service
        _wait(lambda: svc.learner.watermark == 1, timeout=10)
        assert svc.store.reward(ev)["is_default"] is True
        r = c.post(f"/v1/events/{ev}/reward", json={"value": 1})
        assert r.status_code == 409 and "window" in r.json()["error"]
        assert c.post(f"/v1/events/{ev}/reward", json={"value": 0}).status_code == 204
        text = c.get("/metrics").text
        assert 'recloop_requests_total{method="POST",route="/v1/rank",status="200"} 1.0' in text
        assert 'recloop_rewards_total{kind="default"} 1.0' in text
        assert "recloop_learning_lag_seconds_bucket" in text and "recloop_ctr 0.0" in text
        stats = c.get("/v1/stats").json()
        assert stats["timeline"][-1]["decisions"] == 1 and stats["model"]["watermark"] == 1
        assert stats["timeline"][-1]["default_rewards"] == 1 and stats["model"]["updates"] == 1
        assert stats["requests"]["/v1/rank"]["requests"] == 1 and stats["requests"]["/v1/rank"]["share_503"] == 0
        page = c.get("/")
        assert page.status_code == 200 and "<canvas" in page.text and "http" not in page.text.split("<script>")[1]


def test_context_free_policy_and_named_context(sqlite_db, tmp_path, config):
    with TestClient(create_app(config(sqlite_db, tmp_path, policy="thompson"))) as c:
        r = c.post("/v1/rank", json={"candidates": [{"id": "x"}, {"id": "y"}], "k": 2})
        assert r.status_code == 200 and sum(x["probability"] for x in r.json()["ranking"]) == pytest.approx(1, abs=0.02)
    with TestClient(create_app(config(sqlite_db, tmp_path, n_features=2))) as c:
        r = c.post("/v1/rank", json={"context": {"b": 2.0, "a": 1.0}, "candidates": [{"id": "x"}]})
        assert r.status_code == 200
        assert c.app.state.service.store.decision(r.json()["event_id"]).context == [1.0, 2.0]  # ordered by name


def _wait(cond, timeout=5.0):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_learning_beats_uniform_through_the_api(sqlite_db, tmp_path, config):
    """LinUCB behind the API learns the simulated users: CTR of the last block beats the first."""
    from recloop.apps.traffic import SimulatedUsers
    sim = SimulatedUsers(n_arms=10, n_features=4, seed=1, with_features=False)
    cfg = config(sqlite_db, tmp_path, sqlite_synchronous="OFF")  # this test is about learning, not fsync
    with TestClient(create_app(cfg)) as c:
        rewards = []
        for i in range(500):
            ctx, rng = sim.user(i)
            r = c.post("/v1/rank", json={"context": ctx, "candidates": sim.candidates}).json()
            reward, regret = sim.click(ctx, r["chosen_id"], rng)
            c.post(f"/v1/events/{r['event_id']}/reward", json={"value": reward})
            rewards.append(regret)
        regret = np.asarray(rewards)
    assert regret[-150:].mean() < 0.6 * regret[:100].mean()


def test_cors_when_configured(sqlite_db, tmp_path, config):
    cfg = config(sqlite_db, tmp_path, cors_origins=("http://app.example",))
    with TestClient(create_app(cfg)) as c:
        r = c.post("/v1/rank", json=body(), headers={"Origin": "http://app.example"})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "http://app.example"
        r = c.post("/v1/rank", json=body(), headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in r.headers


def test_serves_an_offline_trained_checkpoint(sqlite_db, tmp_path, config):
    from recloop.core.registry import make
    from recloop.core.types import Feedback
    trained = make("policy", "linucb", n_features=4, alpha=0.0, seed=0)
    trained.update_many([Feedback("good", 1.0, np.ones(4)), Feedback("bad", 0.0, np.ones(4))] * 20)
    path = trained.save(tmp_path / "offline.npz")
    # exploration=0: the deterministic model as trained (the floor is tested in test_exploration_floor.py)
    with TestClient(create_app(config(sqlite_db, tmp_path, policy=str(path), exploration=0.0))) as c:
        r = c.post("/v1/rank", json={"context": [1, 1, 1, 1], "candidates": [{"id": "bad"}, {"id": "good"}]}).json()
        assert r["chosen_id"] == "good" and r["ranking"][0]["probability"] == 1.0
        assert 'recloop_store_batch_size_count 1.0' in c.get("/metrics").text


def test_logged_model_version_names_the_live_model(client):
    """``v<snapshot>`` while the model is exactly that snapshot; ``v<snapshot>@w<seq>`` once
    online updates moved it on (snapshot + every reward up to seq: what a restart replays)."""
    svc = client.app.state.service

    def event(value):
        ev = client.post("/v1/rank", json=body(), headers=U).json()
        assert client.post(f"/v1/events/{ev['event_id']}/reward", json={"value": value}, headers=U).status_code == 204
        return ev

    assert event(1)["model_version"] == "v0"
    _wait(lambda: svc.learner.watermark == 1)
    ev = event(0)
    assert ev["model_version"] == "v0@w1"
    _wait(lambda: svc.learner.watermark == 2)
    assert client.post("/v1/models/snapshot", json={}, headers=A).json()["version"] == 1
    assert event(1)["model_version"] == "v1"
    _wait(lambda: svc.learner.watermark == 3)
    assert client.post("/v1/rank", json=body(), headers=U).json()["model_version"] == "v1@w3"
    assert client.post("/v1/models/0/activate", json={}, headers=A).json()["version"] == 2
    assert client.post("/v1/rank", json=body(), headers=U).json()["model_version"] == "v2"
    assert svc.store.decision(ev["event_id"]).model_version == "v0@w1"  # logged as answered


def test_freeze_gc_freezes_the_start_up_objects(sqlite_db, tmp_path, config):
    import gc
    try:
        with TestClient(create_app(config(sqlite_db, tmp_path, freeze_gc=True))):
            assert gc.get_freeze_count() > 1000  # the app, its routes, the policy, ...
    finally:
        gc.unfreeze()
    with TestClient(create_app(config(sqlite_db, tmp_path / "b"))):
        assert gc.get_freeze_count() == 0  # the default leaves the collector alone


def test_api_docs_are_served_offline(sqlite_db, tmp_path, config):
    """Swagger UI and ReDoc come from the installed package, not from a CDN."""
    import re
    with TestClient(create_app(config(sqlite_db, tmp_path))) as c:
        for page in ("/docs", "/redoc"):
            html = c.get(page).text
            refs = re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r"url: '([^']+)'", html)
            assert refs and not [r for r in refs if "//" in r], (page, refs)  # nothing from another host
            for ref in refs:
                assert c.get("/" + ref.lstrip("/")).status_code == 200, ref
        assert c.get("/docs-assets/swagger-ui-bundle.js").headers["content-type"].startswith("text/javascript")
        assert c.get("/docs-assets/..%2Fcore.py").status_code == 404


def test_load_client_runs_its_coroutine_with_the_collector_stopped_and_restores_it():
    import gc

    from recloop.apps.traffic import run_timed

    async def main() -> tuple[bool, int]:
        await asyncio.sleep(0)
        return gc.isenabled(), gc.get_freeze_count()

    enabled, frozen = run_timed(main)
    assert not enabled and frozen > 0  # the prepared objects are out of the collector's reach
    assert gc.isenabled() and gc.get_freeze_count() == 0

    async def fails() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run_timed(fails)
    assert gc.isenabled() and gc.get_freeze_count() == 0
