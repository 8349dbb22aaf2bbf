"""The scale-out store path (PostgreSQL): rankers' writes answer as one process would,
also when two rankers race for one event; the learner's take numbers each reward once."""

import itertools
import threading
import time

import pytest
from hypothesis import given, settings, strategies as st
from sqlalchemy import select

from recloop.serve.inbox import ranker_write, take_inbox
from recloop.serve.store import CONFLICT, SAME, STORED, UNKNOWN, WRONG_ITEM, Decision, RewardIn, Store, StoreFenced
from recloop.serve.tables import inbox

_events = itertools.count()


def _decision(event_id, chosen="a", request_hash="h1"):
    items = [chosen] + [i for i in ("a", "b", "c") if i != chosen]
    return Decision(event_id=event_id, context=[0.5, -1.0], candidates=[(i, None) for i in items],
                    items=items[:2], scores=[0.3, 0.1], propensities=[0.8, 0.1], model_version="v0",
                    request_hash=request_hash)


@pytest.fixture
def ranker(db):
    if db[0].startswith("sqlite"):
        pytest.skip("rankers need PostgreSQL")

    def make():
        s = Store(db[0], schema=db[1]).create()
        s.mode = "ranker"
        made.append(s)
        return s

    made: list[Store] = []
    yield make
    for s in made:
        s.close()


def test_decisions_stored_once_twins_and_other_rankers_answered_with_what_is_stored(ranker):
    a, b = ranker(), ranker()
    assert a.write_batch([_decision("c1")], [])[0] == [(STORED, None)]
    d_out, _, _ = b.write_batch([_decision("c1", chosen="b"), _decision("c1", request_hash="h2"),
                                 _decision("c2"), _decision("c2", chosen="b"), _decision("c2", request_hash="h9")], [])
    assert [c for c, _ in d_out] == [SAME, CONFLICT, STORED, SAME, CONFLICT]
    assert d_out[0][1].chosen == "a"  # a's decision, not b's
    assert d_out[3][1].chosen == "a"  # the first twin's, stored by this batch
    assert b.counts()["decisions"] == 2


def test_rewards_answered_as_one_process_would(ranker):
    a, b = ranker(), ranker()
    a.write_batch([_decision("e1"), _decision("e2", chosen="b"), _decision("e3")], [])
    _, r_out, joined = b.write_batch([_decision("e4")], [
        RewardIn("e1", 1.0), RewardIn("e1", 1.0), RewardIn("e1", 0.0), RewardIn("nope", 1.0),
        RewardIn("e2", 0.0, item_id="a"), RewardIn("e2", 0.5, item_id="b"), RewardIn("e4", 1.0)])
    assert r_out == [(STORED, None), (STORED, None), (CONFLICT, {"value": 1.0, "is_default": False}),
                     (UNKNOWN, None), (WRONG_ITEM, "b"), (STORED, None), (STORED, None)]
    assert joined == []  # the learner numbers rewards
    _, r_out, _ = a.write_batch([], [RewardIn("e1", 1.0), RewardIn("e2", 0.0), RewardIn("e2", 0.5, item_id="c"),
                                     RewardIn("e3", 0.0, item_id="c"), RewardIn("e3", 1.0, is_default=True)])
    assert r_out == [(SAME, None), (CONFLICT, {"value": 0.5, "is_default": False}), (WRONG_ITEM, "b"),
                     (WRONG_ITEM, "a"), (STORED, None)]
    _, r_out, _ = b.write_batch([], [RewardIn("e3", 0.0)])
    assert r_out == [(CONFLICT, {"value": 1.0, "is_default": True})]


def test_a_reward_joined_by_a_single_process_before_is_not_put_in_the_inbox(db, ranker):
    one = ranker()
    one.mode = "all"
    one.claim_writer()
    one.write_batch([_decision("e1")], [RewardIn("e1", 1.0)])
    one.close()
    r = ranker()
    _, r_out, _ = r.write_batch([], [RewardIn("e1", 1.0), RewardIn("e1", 0.0)])
    assert r_out == [(SAME, None), (CONFLICT, {"value": 1.0, "is_default": False})]
    learner = ranker()
    learner.claim_writer()
    assert take_inbox(learner) == []


@pytest.mark.parametrize("what", ["decision", "reward"])
def test_two_rankers_racing_for_one_event_agree(ranker, what):
    """Ranker a has inserted, not committed; b's insert of the same event waits for a's
    commit, then stores nothing and answers with what a stored."""
    a, b = ranker(), ranker()
    if what == "reward":
        a.write_batch([_decision("e1")], [])
    a._writer_conn()  # (its statements)
    raw = a.engine.raw_connection()  # a's batch in a transaction held open: not a's autocommit connection
    mine = ([_decision("e1", request_hash="hA")], []) if what == "decision" else ([], [RewardIn("e1", 1.0)])
    theirs = ([_decision("e1", request_hash="hB")], []) if what == "decision" else ([], [RewardIn("e1", 0.0)])
    assert ranker_write(a, raw, *mine)[0 if what == "decision" else 1] == [(STORED, None)]
    out: list = []
    t = threading.Thread(target=lambda: out.append(b.write_batch(*theirs)))
    t.start()
    time.sleep(0.5)
    assert t.is_alive() and not out  # waiting for a's transaction
    raw.commit()
    raw.close()
    t.join(10)
    d_out, r_out, _ = out[0]
    if what == "decision":
        assert d_out[0][0] == CONFLICT and d_out[0][1].request_hash == "hA"
    else:
        assert r_out == [(CONFLICT, {"value": 1.0, "is_default": False})]


def test_the_take_numbers_each_reward_once_in_inbox_order_and_is_fenced(db, ranker):
    r = ranker()
    r.write_batch([_decision(f"e{i}", chosen="ab"[i % 2]) for i in range(6)], [])
    r.write_batch([], [RewardIn(f"e{i}", float(i)) for i in (3, 1, 4)])
    learner = ranker()
    learner.claim_writer()
    got = take_inbox(learner, limit=2)
    assert [(j.seq, j.feedback.reward, j.feedback.item_id) for j in got] == [(1, 3.0, "b"), (2, 1.0, "b")]
    assert got[0].feedback.propensity == 0.8 and list(got[0].feedback.context) == [0.5, -1.0]
    r.write_batch([], [RewardIn("e0", 0.0, is_default=True)])
    got = take_inbox(learner)
    assert [(j.seq, j.feedback.reward, j.is_default) for j in got] == [(3, 4.0, False), (4, 0.0, True)]
    assert take_inbox(learner) == []
    assert [j.seq for j in learner.joined_after(0)] == [1, 2, 3, 4]
    assert learner.reward("e3")["seq"] == 1 and learner.reward("e0")["is_default"]
    # a second learner takes the lease over: the first one's takes commit nothing more
    r.write_batch([], [RewardIn("e5", 1.0)])
    learner.lease_s = 0.3
    learner.renew_lease()
    time.sleep(0.5)
    other = ranker()
    other.claim_writer(lease_s=5.0)
    with pytest.raises(StoreFenced):
        take_inbox(learner)
    assert learner.reward("e5") is None
    assert [j.seq for j in take_inbox(other)] == [5]


def test_the_take_joins_the_chosen_items_features_when_the_policy_learns_them(ranker):
    r = ranker()
    d = Decision(event_id="e1", context=[1.0], candidates=[("a", [1.0, 2.0]), ("b", [3.0, 4.0])], items=["b", "a"],
                 scores=[0.3, 0.1], propensities=[0.7, 0.3], model_version="v0", request_hash="h")
    r.write_batch([d], [RewardIn("e1", 1.0)])
    learner = ranker()
    learner.item_features = True
    learner.claim_writer()
    (j,) = take_inbox(learner)
    assert j.feedback.item_id == "b" and list(j.feedback.item_features) == [3.0, 4.0]


def test_an_idle_take_writes_nothing(ranker):
    """Polling an empty inbox is a read (no commit to flush, no lease row version); the
    take that finds rewards renews the lease with its commit."""
    from recloop.serve.tables import lease

    r = ranker()
    r.write_batch([_decision("e1"), _decision("e2")], [RewardIn("e1", 1.0)])
    learner = ranker()
    learner.claim_writer()

    def renewed():
        with learner.engine.connect() as conn:
            return conn.execute(select(lease.c.renewed)).scalar_one()

    assert [j.seq for j in take_inbox(learner)] == [1]
    before = renewed()
    assert take_inbox(learner) == [] and take_inbox(learner) == []
    assert renewed() == before
    r.write_batch([], [RewardIn("e2", 0.0)])
    assert [j.seq for j in take_inbox(learner)] == [2]
    assert renewed() > before


_item_ids = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40)
_floats = st.floats(allow_nan=False, allow_infinity=False, width=64)


def test_a_batch_stores_every_item_id_and_float_exactly(ranker):
    """The batch travels as JSON (ranker_batch): ids with quotes, backslashes, unicode;
    floats at their extremes: what is read back is what was given, bit for bit."""
    r = ranker()

    @settings(max_examples=25, deadline=None)
    @given(ids=st.lists(_item_ids, min_size=1, max_size=4, unique=True),
           context=st.lists(_floats, min_size=1, max_size=3), feature=_floats, probability=st.floats(1e-300, 1.0),
           value=_floats, default=st.booleans())
    def check(ids, context, feature, probability, value, default):
        event = f"e{next(_events)}"
        d = Decision(event_id=event, context=context, candidates=[(i, [feature, -feature]) for i in ids],
                     items=ids[:1], scores=[feature], propensities=[probability], model_version="v\"'\\",
                     request_hash="h")
        assert r.write_batch([d], [RewardIn(event, value, is_default=default, item_id=ids[0])])[:2] \
            == ([(STORED, None)], [(STORED, None)])
        back = r.decision(event)
        assert (back.context, back.candidates, back.items, back.scores, back.propensities, back.model_version) \
            == (context, [(i, [feature, -feature]) for i in ids], ids[:1], [feature], [probability], d.model_version)
        with r.engine.connect() as conn:
            got = conn.execute(select(inbox.c.value, inbox.c.is_default, inbox.c.item_id)
                               .where(inbox.c.event_id == event)).one()
        assert tuple(got) == (value, default, ids[0])

    check()


def test_the_ranker_and_learner_connections_go_back_to_the_pool_as_they_came(ranker):
    """A ranker's batches run in autocommit with generic plans, and every writer reads
    by index only; a dropped connection (after an error, or at close) must carry none of
    that into the pool's next user."""
    r = ranker()
    r.write_batch([_decision("e1")], [RewardIn("e1", 1.0)])
    raw = r._writer_conn()
    assert raw.driver_connection.autocommit
    assert raw.driver_connection.execute("SHOW enable_seqscan").fetchone()[0] == "off"
    conn = raw.driver_connection
    r._drop_writer_conn()
    assert not conn.autocommit
    assert conn.execute("SHOW plan_cache_mode").fetchone()[0] == "auto"
    assert conn.execute("SHOW enable_seqscan").fetchone()[0] == "on"
    conn.rollback()
    learner = ranker()
    learner.claim_writer()
    assert len(take_inbox(learner)) == 1 and take_inbox(learner) == []  # a take, then an idle poll
    conn = learner._writer_conn().driver_connection
    assert conn.execute("SHOW enable_seqscan").fetchone()[0] == "off"
    conn.rollback()
    learner._drop_writer_conn()
    assert not conn.autocommit and conn.execute("SHOW enable_seqscan").fetchone()[0] == "on"


def test_numpy_scalars_from_a_policy_are_stored_as_numbers(ranker):
    import numpy as np

    r = ranker()
    d = Decision(event_id="e1", context=[0.5], candidates=[("a", None), ("b", None)], items=["a", "b"],
                 scores=[0.3, 0.1], propensities=[np.float64(0.8), np.float32(0.2)], model_version="v0",
                 request_hash="h")
    assert r.write_batch([d], [RewardIn("e1", np.float64(1.0))])[:2] == ([(STORED, None)], [(STORED, None)])
    assert r.decision("e1").propensities[0] == 0.8 and r.reward("e1") is None  # (in the inbox until taken)
