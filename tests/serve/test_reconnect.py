"""The store goes away and comes back (a PostgreSQL restart, a lost connection): the
service rides it out, learns every stored reward exactly once, and no second learner
takes over by it. A restart of the shared server is the benchmark drill's job
(``benchmarks/serve_scale.py --crash N --pg-restart``); here the service's own sessions
are terminated, which is what a restart does to it, and a commit whose answer was lost
is played by a connection that commits and then raises."""

import threading
import time

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text

from recloop.serve.app import create_app
from recloop.serve.learner import build_policy, same_model
from recloop.serve.runner import BackgroundServer, wait_until
from recloop.serve.store import Store, StoreFenced

CANDS = [{"id": f"i{k}"} for k in range(5)]


class OperationalError(Exception):
    """What a driver raises when the connection died (the writer goes by the name)."""


def _pg(db):
    if db[0].startswith("sqlite"):
        pytest.skip("PostgreSQL drill")
    return db


def _learned_exactly_once(svc, store, cfg):
    """The live model learned every stored reward once, in seq order: as a replay of the log."""
    counts = store.counts()
    assert svc.learner.watermark == store.max_reward_seq() == counts["rewards"]
    replay = build_policy(cfg)
    replay.update_many(j.feedback for j in store.joined_after(0))
    assert svc.learner.policy.t_ == replay.t_ == counts["rewards"]  # none skipped, none twice
    assert same_model(svc.learner.policy, replay)


class _AnswerLost:
    """A DBAPI connection whose next commit, once armed, commits and then raises: the
    server stored the batch but the service never heard so (a restart between the
    COMMIT and its answer)."""

    armed = False

    def __init__(self, raw):
        self._raw = raw

    def commit(self):
        self._raw.commit()
        if _AnswerLost.armed:
            _AnswerLost.armed = False
            raise OperationalError("server closed the connection unexpectedly")

    def __getattr__(self, name):
        return getattr(self._raw, name)


def _v1_answers_lost(real):
    """``Store._writer_conn`` that wraps the /v1 store's writer only: the Personalizer
    store's heartbeat commits too, and must not take the armed fault."""
    return lambda self: _AnswerLost(real(self)) if type(self) is Store else real(self)


def _events_losing_one_commit_answer(c, n, lost, retry):
    """Events e0..e{n-1} (rank, then reward): the commit of event ``lost``'s reward
    succeeds but its answer is lost (the client hears 503); ``retry``: the client sends
    that reward again, which is "the same reward again" (204) and stores nothing new."""
    rng = np.random.default_rng(n)
    for i in range(n):
        ev = f"e{i}"
        assert c.post("/v1/rank", json={"event_id": ev, "context": rng.normal(size=4).tolist(),
                                        "candidates": CANDS}).status_code == 200
        _AnswerLost.armed = i == lost
        r = c.post(f"/v1/events/{ev}/reward", json={"value": float(i % 2)})
        if i == lost:
            assert r.status_code == 503 and not _AnswerLost.armed
            if not retry:
                continue
            r = c.post(f"/v1/events/{ev}/reward", json={"value": float(i % 2)})
        assert r.status_code == 204


def test_a_reward_whose_commit_answer_was_lost_is_still_learned(db, tmp_path, config, monkeypatch):
    """One process (role all): only the writer can hand the 503'd (but stored) reward to
    the learner; the next batch does."""
    real = Store._writer_conn
    monkeypatch.setattr(Store, "_writer_conn", _v1_answers_lost(real))
    cfg = config(db, tmp_path)
    with TestClient(create_app(cfg)) as c:
        svc = c.app.state.service
        _events_losing_one_commit_answer(c, 8, lost=3, retry=True)
        store = Store(db[0], schema=db[1])
        assert store.reward("e3")["seq"] == 4
        wait_until(lambda: svc.learner.watermark == 8 and not svc.learner.pending)
        _learned_exactly_once(svc, store, cfg)
        store.close()


def test_a_lost_commit_answer_with_no_write_after_it_is_still_learned(db, tmp_path, config, monkeypatch):
    """The last reward's commit answer is lost and no request comes after it: the lease
    heartbeat's own transaction (through the writer) hands the owed reward over, instead
    of it waiting for the next request."""
    real = Store._writer_conn
    monkeypatch.setattr(Store, "_writer_conn", _v1_answers_lost(real))
    cfg = config(db, tmp_path, lease_s=0.6)  # heartbeat every 0.2 s
    with TestClient(create_app(cfg)) as c:
        svc = c.app.state.service
        _events_losing_one_commit_answer(c, 4, lost=3, retry=False)
        store = Store(db[0], schema=db[1])
        assert store.reward("e3")["seq"] == 4  # stored, though the client heard 503
        wait_until(lambda: svc.learner.watermark == 4 and not svc.learner.pending, timeout=10)
        _learned_exactly_once(svc, store, cfg)
        assert c.get("/readyz").status_code == 200  # the heartbeat renewed the lease too
        store.close()


def _client(urls, n, acked, stop=None, first=0):
    """Events ``first .. first+n-1`` (rank, then reward), each retried with the same
    event id on 503 or a dead connection, as the crash drill's client does."""
    with httpx.Client(timeout=10) as http:
        for i in range(first, first + n):
            if stop is not None and stop.is_set():
                return
            rng = np.random.default_rng(i)
            ev = f"ev-{i}"
            body = {"event_id": ev, "context": rng.normal(size=4).tolist(), "candidates": CANDS}
            for call in (lambda u: http.post(f"{u}/v1/rank", json=body),  # noqa: B023 - called at once
                         lambda u: http.post(f"{u}/v1/events/{ev}/reward", json={"value": float(i % 3 == 0)})):  # noqa: B023
                for k in range(400):
                    try:
                        r = call(urls[(i + k) % len(urls)])
                    except httpx.TransportError:
                        r = None
                    if r is not None and r.status_code != 503:
                        break
                    time.sleep(0.05)
                assert r is not None and r.status_code in (200, 204), r
            acked[ev] = float(i % 3 == 0)


class _TakeAnswerLost:
    """The learner's kept DBAPI connection: the commit of the first take that moved
    rewards commits, then raises (the answer to the COMMIT was lost)."""

    def __init__(self, raw, state: list[str]):
        self._raw, self._state = raw, state

    def cursor(self):
        return _ArmingCursor(self._raw.cursor(), self._state)

    def commit(self):
        self._raw.commit()
        if self._state == ["armed"]:
            self._state.append("lost")
            raise OperationalError("server closed the connection unexpectedly")

    def __getattr__(self, name):
        return getattr(self._raw, name)


class _ArmingCursor:
    def __init__(self, cur, state: list[str]):
        self._cur, self._state, self._take = cur, state, False

    def execute(self, sql, *args):
        self._take = "INSERT INTO" in sql and "recloop_rewards" in sql
        return self._cur.execute(sql, *args)

    def fetchall(self):
        rows = self._cur.fetchall()
        if self._take and rows and not self._state:
            self._state.append("armed")  # this take numbered rewards: lose the answer to its commit
        return rows

    def __getattr__(self, name):
        return getattr(self._cur, name)


def test_the_learner_learns_an_inbox_take_whose_commit_answer_was_lost(db, tmp_path, config, monkeypatch):
    """Scale-out: the learner numbered inbox rows and committed, but heard an error; the
    rows are no longer in the inbox, so only the next take can hand them over."""
    db = _pg(db)
    lcfg = config(db, tmp_path, role="learner", lease_s=2.0)
    lapp = create_app(lcfg)
    lstore = lapp.state.service.store
    lost: list[str] = []
    real = lstore._writer_conn
    monkeypatch.setattr(lstore, "_writer_conn", lambda: _TakeAnswerLost(real(), lost))
    acked: dict[str, float] = {}
    with BackgroundServer(lapp), BackgroundServer(create_app(config(db, tmp_path, role="ranker"))) as r:
        _client([r], 12, acked)
        store = Store(db[0], schema=db[1])
        svc = lapp.state.service
        wait_until(lambda: store.counts()["rewards"] == 12 and svc.learner.watermark == 12 and not svc.learner.pending)
        assert lost == ["armed", "lost"]
        _learned_exactly_once(svc, store, lcfg)
        store.close()


def _engines(app) -> list:
    """The service's stores' engines: the /v1 store and the Personalizer loop's beside it."""
    return [app.state.service.store.engine, app.state.personalizer.store.engine]


def _record_sessions(app) -> set[int]:
    """The backend pids of every PostgreSQL session ``app``'s stores open."""
    pids: set[int] = set()
    for engine in _engines(app):
        event.listen(engine, "connect", lambda dbapi, _rec: pids.add(dbapi.info.backend_pid))
    return pids


def _terminate(store: Store, pids: set[int]) -> int:
    with store.engine.begin() as conn:
        return int(conn.execute(text("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) AS gone "
                                     "FROM pg_stat_activity WHERE pid = ANY(:p)) t WHERE gone"),
                                {"p": sorted(pids)}).scalar_one())


def test_after_the_learners_sessions_die_a_second_learner_is_refused_and_nothing_is_lost(db, tmp_path, config):
    """Issue 22: "after a PostgreSQL restart a second service starts, both learn ... service
    2's rewards are never learned". Service 1 (the learner) loses every PostgreSQL session
    under load; a second learner on the same store is refused while service 1 renews its
    lease; service 1 reconnects and learns every reward once."""
    db = _pg(db)
    lcfg = config(db, tmp_path, role="learner", lease_s=1.0, snapshot_every_s=0.3)
    lapp = create_app(lcfg)
    pids = _record_sessions(lapp)
    acked: dict[str, float] = {}
    with BackgroundServer(lapp) as lurl, BackgroundServer(create_app(config(db, tmp_path, role="ranker",
                                                                          model_refresh_s=0.2))) as r:
        store = Store(db[0], schema=db[1])
        stop = threading.Event()
        client = threading.Thread(target=_client, args=([r], 100_000, acked, stop))  # until stopped
        client.start()
        wait_until(lambda: len(acked) >= 20)
        assert _terminate(store, pids) >= 1  # what a PostgreSQL restart does to service 1
        with pytest.raises(RuntimeError, match="holds the learner lease"):
            with TestClient(create_app(config(db, tmp_path / "second", role="learner", lease_s=1.0))):
                pass
        n = len(acked)
        wait_until(lambda: len(acked) >= n + 20)
        stop.set()
        client.join()
        svc = lapp.state.service
        wait_until(lambda: svc.learner.watermark == store.counts()["rewards"] == len(acked) and not svc.learner.pending)
        for ev, value in acked.items():
            assert store.reward(ev)["value"] == value
        _learned_exactly_once(svc, store, lcfg)
        assert httpx.get(f"{lurl}/readyz").json()["checks"]["lease"] == {"ok": True, "token": 1, "error": None}
        store.close()


def test_a_learner_cut_off_past_its_lease_is_fenced_and_its_successor_learns_everything(db, tmp_path, config):
    """The other answer: service 1 cannot reach PostgreSQL for longer than its lease, a
    second learner takes over (token 2); when service 1 is back it commits nothing more
    (fenced, /readyz says so), and the successor learns every reward once."""
    db = _pg(db)
    lcfg = config(db, tmp_path, role="learner", lease_s=1.0, snapshot_every_s=0.3)
    lapp = create_app(lcfg)
    pids = _record_sessions(lapp)
    cut = threading.Event()

    def refuse(*_args):
        if cut.is_set():
            raise OperationalError("connection refused")  # service 1 alone cannot reach the server

    for engine in _engines(lapp):
        event.listen(engine, "do_connect", refuse)
    acked: dict[str, float] = {}
    # (a TestClient: a failing shutdown of the fenced service raises here)
    with TestClient(lapp) as c1, BackgroundServer(create_app(config(db, tmp_path, role="ranker",
                                                                    model_refresh_s=0.2))) as r:
        store = Store(db[0], schema=db[1])
        _client([r], 20, acked)
        cut.set()
        assert _terminate(store, pids) >= 1
        second_cfg = config(db, tmp_path / "second", role="learner", lease_s=1.0, snapshot_every_s=0.3)
        second = create_app(second_cfg)
        with BackgroundServer(second):
            _client([r], 20, acked, first=20)
            cut.clear()  # service 1 is back
            svc1, svc2 = lapp.state.service, second.state.service
            wait_until(lambda: svc1.fenced is not None)
            ready = c1.get("/readyz")
            assert ready.status_code == 503 and "taken over" in ready.json()["error"]
            _client([r], 20, acked, first=40)
            wait_until(lambda: svc2.learner.watermark == store.counts()["rewards"] == 60 and not svc2.learner.pending)
            assert svc2.store.token == 2 and svc1.learner.watermark <= 20  # service 1 took nothing more
            _learned_exactly_once(svc2, store, second_cfg)
            with pytest.raises(StoreFenced):  # nor can it commit anything
                svc1.store.renew_lease()
        store.close()
