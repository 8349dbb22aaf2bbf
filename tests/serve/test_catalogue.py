"""New items do not freeze the service, and a bounded catalogue stays bounded.
Before: 1,000 fresh ids in one rank request took 6-9 s inside the event loop (/healthz
stalled as long), because arms were added one at a time, each copying every per-arm
array; nothing was ever removed (7,001 arms, a 16 MB snapshot)."""

from fastapi.testclient import TestClient

from recloop.serve.app import create_app

CTX = [0.1, 0.2, 0.3, 0.4]


def _fresh(c, batch, n=1000):
    r = c.post("/v1/rank", json={"context": CTX, "candidates": [{"id": f"fresh-{batch}-{i}"} for i in range(n)]})
    assert r.status_code == 200, r.text
    return r.json()


def test_a_thousand_new_items_in_one_request_are_added_in_one_step(sqlite_db, tmp_path, config, monkeypatch):
    with TestClient(create_app(config(sqlite_db, tmp_path))) as c:
        policy = c.app.state.service.learner.policy
        grown = []
        original = policy._new_arms
        monkeypatch.setattr(policy, "_new_arms", lambda n: grown.append(n) or original(n))
        _fresh(c, 0)
        assert grown == [1000] and policy.arms_ == 1000  # one copy of the per-arm arrays, not 1,000
        assert c.get("/healthz").json()["status"] == "ok"


def test_the_bounded_catalogue_evicts_and_its_snapshots_stay_small(sqlite_db, tmp_path, config, monkeypatch):
    """``-p max_items=N``: beyond N ids the items unseen longest go; the ones being served
    and the ones just rewarded stay."""
    cfg = config(sqlite_db, tmp_path, policy_params={"max_items": 2000}, snapshot_every_s=0)
    with TestClient(create_app(cfg)) as c:
        svc = c.app.state.service
        policy = svc.learner.policy
        grown = []
        original = policy._new_arms
        monkeypatch.setattr(policy, "_new_arms", lambda n: grown.append(n) or original(n))
        sizes = []
        for batch in range(7):
            r = _fresh(c, batch)
            assert c.post(f"/v1/events/{r['event_id']}/reward", json={"value": 1.0}).status_code == 204
            if batch in (1, 6):
                version = c.post("/v1/models/snapshot", json={}).json()["version"]
                sizes.append(len(svc.store.model_blob(version)))
        assert policy.arms_ == 2000 and len(policy.known_items) == 2000  # not 7,000
        known = set(policy.known_items)
        assert all(f"fresh-6-{i}" in known for i in range(1000))  # the request being served
        assert not any(f"fresh-0-{i}" in known for i in range(1000))  # unseen longest
        assert all(n == 1000 for n in grown), grown  # every step in bulk: adding, then resetting evicted arms
        assert sizes[1] <= 1.02 * sizes[0], sizes

