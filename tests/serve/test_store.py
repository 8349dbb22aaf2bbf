"""The store's write path: all-or-nothing batches, rewards joined exactly once, in order."""

import uuid

import numpy as np
import psycopg.errors
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from recloop.serve.store import CONFLICT, SAME, STORED, UNKNOWN, WRONG_ITEM, Decision, RewardIn, Store


def _decision(event_id, chosen="a", request_hash="-", features=None):
    items = [chosen] + [i for i in ("a", "b", "c") if i != chosen]
    return Decision(event_id=event_id, context=[0.5, -1.0], candidates=[(i, features) for i in items],
                    items=items[:2], scores=[0.3, 0.1], propensities=[0.8, 0.1], model_version="v0",
                    request_hash=request_hash)


@pytest.fixture
def store(db):
    s = Store(db[0], schema=db[1]).create()
    s.claim_writer()  # only the lease holder may write
    yield s
    s.close()


def test_rewards_join_exactly_once_with_precise_outcomes(store):
    d_out, _, _ = store.write_batch([_decision("e1"), _decision("e2", chosen="b")], [])
    assert d_out == [(STORED, None), (STORED, None)]
    _, r_out, joined = store.write_batch([], [
        RewardIn("e1", 1.0), RewardIn("e1", 1.0), RewardIn("e2", 0.0, item_id="a"),
        RewardIn("nope", 1.0), RewardIn("e2", 0.0, item_id="b")])
    codes = [c for c, _ in r_out]
    assert codes == [STORED, SAME, WRONG_ITEM, UNKNOWN, STORED]
    assert r_out[2][1] == "b"
    assert [j.feedback.item_id for j in joined] == ["a", "b"]
    assert joined[0].seq < joined[1].seq
    np.testing.assert_array_equal(joined[0].feedback.context, [0.5, -1.0])
    assert joined[0].feedback.propensity == 0.8
    _, r_out, joined = store.write_batch([], [RewardIn("e1", 1.0), RewardIn("e1", 0.0)])
    assert r_out[0] == (SAME, r_out[0][1]) and r_out[1] == (CONFLICT, {"value": 1.0, "is_default": False})
    assert joined == []
    assert store.counts() == {"decisions": 2, "rewards": 2}


def test_conflicting_twins_inside_one_batch(store):
    store.write_batch([_decision("e1")], [])
    _, r_out, joined = store.write_batch([], [RewardIn("e1", 1.0), RewardIn("e1", 0.0)])
    assert [c for c, _ in r_out] == [STORED, CONFLICT]
    assert len(joined) == 1


def test_client_event_ids_are_idempotent_or_conflict(store):
    store.write_batch([_decision("c1", request_hash="h1")], [])
    d_out, _, _ = store.write_batch([_decision("c1", chosen="b", request_hash="h1"),
                                     _decision("c1", request_hash="h2")], [])
    assert d_out[0][0] == SAME and d_out[0][1].chosen == "a"  # the stored decision, not the new one
    assert d_out[1][0] == CONFLICT
    assert store.counts()["decisions"] == 1


def test_joined_after_replays_in_seq_order(store):
    store.write_batch([_decision(f"e{i}", chosen="abc"[i % 3]) for i in range(12)], [])
    order = [5, 1, 9, 0, 3]
    for i in order:
        store.write_batch([], [RewardIn(f"e{i}", float(i))])
    replay = list(store.joined_after(0, chunk=2))
    assert [j.feedback.reward for j in replay] == [float(i) for i in order]
    w = replay[1].seq
    assert [j.feedback.reward for j in store.joined_after(w)] == [9.0, 0.0, 3.0]
    assert store.max_reward_seq() == replay[-1].seq


def test_expired_events_without_reward(store):
    store.write_batch([_decision(f"e{i}") for i in range(4)], [])
    store.write_batch([], [RewardIn("e2", 1.0)])
    ids, last = store.expired_without_reward(before_ts=1e12, after_seq=0)
    assert ids == ["e0", "e1", "e3"] and last >= 4
    assert store.expired_without_reward(before_ts=0.0, after_seq=0) == ([], 0)


def test_candidate_features_round_trip(store):
    ragged = Decision(event_id="f", context=[], candidates=[("a", [1.0, 2.0]), ("b", None), ("c", [3.0])],
                      items=["a"], scores=[0.0], propensities=[1.0], model_version="v0", request_hash="-")
    store.write_batch([ragged, _decision("g", features=[0.25] * 3)], [])
    assert store.decision("f").candidates == [("a", [1.0, 2.0]), ("b", None), ("c", [3.0])]
    assert store.decision("g").candidates[1] == ("b", [0.25] * 3)
    assert store.decision("missing") is None


def test_a_failed_batch_stores_nothing(store):
    bad = Decision(event_id="x" * 500, context=[], candidates=[("a", None)], items=["a"], scores=[0.0],
                   propensities=[1.0], model_version="v0", request_hash="-")
    ok = _decision("fine")
    if store.is_sqlite:
        pytest.skip("SQLite does not enforce VARCHAR lengths; the all-or-nothing path is covered on PostgreSQL")
    with pytest.raises(psycopg.errors.DataError):  # the too-long id fails in PostgreSQL itself
        store.write_batch([ok, bad], [])
    assert store.counts() == {"decisions": 0, "rewards": 0}


_events = st.sampled_from(["e0", "e1", "e2", "nope"])
_batches = st.lists(st.tuples(
    st.lists(st.tuples(_events.filter(lambda e: e != "nope"), st.sampled_from("abc"), st.sampled_from(["h1", "h2"])),
             max_size=3),
    st.lists(st.tuples(_events, st.sampled_from([0.0, 0.5, 1.0]), st.sampled_from([None, "a", "b"]), st.booleans()),
             max_size=4)), min_size=1, max_size=4)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=_batches)
# twins of a reward stored in the same batch (same value, another value), and a reward in
# the batch of its own decision next to one for an earlier decision
@example(batches=[([("e0", "a", "h1")], []), ([("e1", "b", "h1")], [("e1", 1.0, None, False), ("e0", 0.5, None, True),
                                                                      ("e1", 1.0, None, False), ("e1", 0.0, "b", False)])])
def test_one_statement_batches_answer_as_the_transactional_path(batches):
    """PostgreSQL's single-process batch is one statement (Store._write_one_statement); the
    transactional path (kept for the Personalizer store) is the reference: for any mix of
    retried and conflicting decisions, and rewards that are twins, unknown, for the wrong
    item or for a decision of the same batch, both give the same answers, seq numbers and
    joined pairs."""
    from tests.serve.conftest import PG_URL, postgres_available
    if not postgres_available():
        pytest.skip("PostgreSQL not reachable (.ci/run starts it)")
    outcomes = []
    for one in (True, False):
        s = Store(PG_URL, schema=f"t_{uuid.uuid4().hex[:12]}").create()
        s.one_statement_batches = one
        s.claim_writer()
        try:
            seen = []
            for ds, rs in batches:
                d_out, r_out, joined = s.write_batch(
                    [_decision(e, chosen=c, request_hash=h) for e, c, h in ds],
                    [RewardIn(e, v, item_id=i, is_default=dflt) for e, v, i, dflt in rs])
                seen.append(([(code, None if old is None else (old.event_id, old.request_hash, old.chosen))
                              for code, old in d_out], r_out,
                             [(j.seq, j.feedback.item_id, j.feedback.reward, j.feedback.propensity,
                               tuple(j.feedback.context), j.is_default) for j in joined]))
            outcomes.append((seen, s.counts()))
        finally:
            s.close()
            s.drop()
    assert outcomes[0] == outcomes[1]


def test_a_lost_connection_fails_the_batch_with_the_servers_own_error(store, db):
    """The server ends the writer's session (a restart, an admin): the batch fails with
    the server's own error (an OperationalError: the group writer treats it as the store
    being down, not as one bad record, and logs its cause), and the next batch runs on a
    fresh connection."""
    if store.is_sqlite:
        pytest.skip("a PostgreSQL session")
    store.write_batch([_decision("e1")], [])
    pid = store._writer_conn().driver_connection.info.backend_pid
    with psycopg.connect(db[0].replace("+psycopg", ""), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(psycopg.OperationalError, match="administrator command"):  # not "the connection is lost"
        store.write_batch([_decision("e2")], [RewardIn("e1", 1.0)])
    d_out, r_out, _ = store.write_batch([_decision("e2")], [RewardIn("e1", 1.0)])
    assert d_out == [(STORED, None)] and r_out[0][0] == STORED
