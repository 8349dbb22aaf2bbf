"""One bad request fails alone: what a store would refuse is refused at validation, the
same way for SQLite and PostgreSQL, and a group commit that still fails is retried
request by request so that its innocent neighbours are stored."""

import asyncio
import threading

import httpx
import pytest
from fastapi.testclient import TestClient

from recloop.serve.app import create_app
from recloop.serve.records import Decision, RewardIn
from recloop.serve.runner import BackgroundServer
from recloop.serve.store import STORED, Store
from recloop.serve.writer import GroupWriter, StoreUnavailable

CTX = [0.1, 0.2, 0.3, 0.4]
BAD_IDS = [("a" * 300, "at most 256 characters"), ("a\x00b", "pattern"), ("line\nbreak", "pattern"),
           ("", "at least 1 character")]


@pytest.mark.parametrize("bad,message", BAD_IDS, ids=["long", "nul", "newline", "empty"])
def test_ids_a_store_would_refuse_are_422_on_every_store(db, tmp_path, config, bad, message):
    with TestClient(create_app(config(db, tmp_path))) as c:
        for cands in ([{"id": bad}], [{"id": "ok", "features": [1.0]}, {"id": bad, "features": [2.0]}]):
            r = c.post("/v1/rank", json={"context": CTX, "candidates": cands})
            assert r.status_code == 422 and "candidates." in r.json()["error"] and message in r.json()["error"], r.text
        ev = c.post("/v1/rank", json={"context": CTX, "candidates": [{"id": "ok"}]}).json()["event_id"]
        r = c.post(f"/v1/events/{ev}/reward", json={"value": 1, "item_id": bad})
        assert r.status_code == 422 and "item_id" in r.json()["error"]
        r = c.post("/v1/rank", json={"context": CTX, "candidates": [{"id": "ok"}], "excluded": [bad]})
        assert r.status_code == 422 and "excluded" in r.json()["error"]
        assert c.app.state.service.store.counts() == {"decisions": 1, "rewards": 0}
        assert c.get("/v1/stats").status_code == 200


def _decision(event_id, chosen):
    return Decision(event_id=event_id, context=[0.0], candidates=[(chosen, None)], items=[chosen], scores=[0.0],
                    propensities=[1.0], model_version="v0", request_hash="-")


def test_a_failing_group_commit_is_retried_one_by_one(db):
    """A record only the database refuses (here PostgreSQL's 256-character column, or
    SQLite's NOT NULL) fails alone; its batch neighbours are stored and answered."""
    url, schema = db
    store = Store(url, schema=schema).create()
    store.claim_writer()
    bad_chosen = None if store.is_sqlite else "x" * 300  # what each database refuses, bypassing validation

    async def go():
        writer = GroupWriter(store, asyncio.get_running_loop(), lambda joined: None)
        futs = [writer.decision(_decision(f"ok-{i}", "a")) for i in range(5)]
        futs.insert(2, writer.decision(_decision("bad", bad_chosen)))
        futs.append(writer.reward(RewardIn("ok-0", 1.0)))
        tasks = [asyncio.ensure_future(f) for f in futs]
        await asyncio.sleep(0)
        writer.start()  # everything is queued: one batch
        out = await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.to_thread(writer.stop)
        return out, writer

    out, writer = asyncio.run(go())
    assert isinstance(out[2], StoreUnavailable)
    assert [o[0] for i, o in enumerate(out) if i != 2] == [STORED] * 6
    assert writer.failures == 2 and writer.last_error is None  # the batch, then the bad one alone
    assert store.counts() == {"decisions": 5, "rewards": 1} and store.decision("bad") is None
    store.close()
    if not schema:
        return
    Store(url, schema=schema).drop()


def test_a_bad_sender_beside_good_clients_fails_no_innocent_request(db, tmp_path, config):
    """The drill of issue 22: 8 clients rank and reward while one sends 300-character and
    NUL-holding ids. Before: 101 of 240 innocent requests got 503 on PostgreSQL."""
    cfg = config(db, tmp_path, sqlite_synchronous="OFF")
    statuses: list[int] = []
    bad_statuses: list[int] = []
    lock = threading.Lock()
    with BackgroundServer(create_app(cfg)) as url:
        def good(n):
            with httpx.Client(base_url=url, timeout=30) as http:
                for _i in range(15):
                    r = http.post("/v1/rank", json={"context": CTX, "candidates": [{"id": f"i{k}"} for k in range(5)]})
                    s = [r.status_code]
                    if r.status_code == 200:
                        s.append(http.post(f"/v1/events/{r.json()['event_id']}/reward", json={"value": 1}).status_code)
                    with lock:
                        statuses.extend(s)

        def bad():
            with httpx.Client(base_url=url, timeout=30) as http:
                for i in range(30):
                    cid = "y" * 300 if i % 2 else f"nul\x00{i}"
                    r = http.post("/v1/rank", json={"context": CTX, "candidates": [{"id": "ok"}, {"id": cid}]})
                    with lock:
                        bad_statuses.append(r.status_code)

        threads = [threading.Thread(target=good, args=(n,)) for n in range(8)] + [threading.Thread(target=bad)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert statuses.count(200) == 120 and statuses.count(204) == 120 and len(statuses) == 240
    assert bad_statuses == [422] * 30
