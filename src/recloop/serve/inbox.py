"""Scale-out: many rankers log, one learner orders and learns (PostgreSQL).

A *ranker* (``recloop serve --role ranker``, any number of processes and hosts) ranks
with the newest published snapshot and, like the single-process service, stores each
decision and reward before it answers. It cannot number rewards: sequence numbers
taken by concurrent transactions commit out of order, and a learner reading "every
seq after W" would skip one that commits late. So rankers put rewards into
``recloop_inbox`` (unique per event: concurrent rankers agree on one reward per event
through the database, and answer 204/409 exactly as one process would).

The *learner* (``--role learner``, one per store, holding the fenced lease) moves
inbox rows into ``recloop_rewards`` in its own transactions, giving them ``seq``
numbers in its commit order; it learns in that order, exactly once, and publishes
snapshots that the rankers load within ``--model-refresh`` seconds. Restart recovery
is unchanged: newest snapshot + the rewards after its watermark.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

from sqlalchemy import select

from recloop.serve.records import Decision, Joined, RewardIn
from recloop.serve.store import (CONFLICT, SAME, STORED, UNKNOWN, WRONG_ITEM, Store, _decision_row,
                                 _feedback, explicit_transactions)
from recloop.serve.tables import _D_COLS, _JoinRow, decisions, inbox
from recloop.serve.write_sql import json_rows, reward_rows_json


def ranker_write(store: Store, raw: Any, new_decisions: Sequence[Decision], new_rewards: Sequence[RewardIn]):
    """:meth:`Store.write_batch` of a ranker: the same answers, safe beside other rankers.

    The batch is one statement (:attr:`_WriteSQL.ranker_batch`; the store's ranker
    connection is in autocommit, so that is one round trip): decisions and rewards go in
    with ON CONFLICT DO NOTHING, and what it returns is what this batch stored; only the
    rest (another ranker's or an earlier request's event, an unknown event: rare) is
    read back afterwards to answer it."""
    sql = store._sql
    now = time.time()
    first: dict[str, Decision] = {}
    for d in new_decisions:
        first.setdefault(d.event_id, d)
    rows = [_decision_row(d, now) for d in first.values()]
    params = (json_rows(decisions, _D_COLS, rows), now, reward_rows_json(new_rewards))
    cur = raw.cursor()
    cur.execute(sql.ranker_batch, params)
    mine: set[str] = set()
    won: dict[str, tuple] = {}  # event_id -> (event_id, value, is_default, chosen)
    for is_decision, *row in cur.fetchall():
        if is_decision:
            mine.add(row[0])
        else:
            won[row[0]] = row

    # another ranker may store the same client event id at the same moment: the unique
    # event id decides, and RETURNING said which of ours went in
    d_out = store._answer_decisions(cur, new_decisions, first, mine)

    r_out: list[tuple[str, Any]] = [(UNKNOWN, None)] * len(new_rewards)
    if new_rewards:
        rest = list({r.event_id for r in new_rewards if r.event_id not in won})
        known = {}
        if rest:  # not stored by this batch: why not?
            cur.execute(sql.reward_state(len(rest)), rest)
            known = {row[0]: row for row in cur.fetchall()}
        for j, r in enumerate(new_rewards):
            row = won.get(r.event_id)
            if row is not None:  # stored now: the first that fits; its twins are answered with it
                if r.item_id is not None and r.item_id != row[3]:
                    r_out[j] = (WRONG_ITEM, row[3])
                else:
                    r_out[j] = ((STORED, None) if row[1] == r.value
                                else (CONFLICT, {"value": row[1], "is_default": bool(row[2])}))
                continue
            row = known.get(r.event_id)
            if row is None or (not row[3] and (r.item_id is None or r.item_id == row[4])):
                # unknown (or the decision committed after this transaction looked for it)
                r_out[j] = (UNKNOWN, None)
            elif r.item_id is not None and r.item_id != row[4]:
                r_out[j] = (WRONG_ITEM, row[4])
            else:
                r_out[j] = ((SAME, None) if row[1] == r.value
                            else (CONFLICT, {"value": row[1], "is_default": bool(row[2])}))
    cur.close()
    return d_out, r_out, []


def take_inbox(store: Store, limit: int = 5000) -> list[Joined]:
    """The learner's step: move up to ``limit`` inbox rows into ``rewards`` (numbering
    them), in one fenced transaction; returns them as joined pairs in ``seq`` order,
    after any that an earlier take committed without hearing so (:meth:`Store.owed_joined`).

    Plain DBAPI on the store's kept connection (:meth:`Store._writer_conn`: a learner
    has no group writer): the fence, then one statement that marks, numbers, inserts
    and returns the rows; an empty inbox is one read, in autocommit. Only this learner
    numbers rewards, so the next ``seq`` is known here; a fresh connection reads it (the
    last one may have died in a commit)."""
    raw = store._writer_conn()
    sql = store._sql
    out: list[Joined] = []
    try:
        cur = raw.cursor()
        # (its connection reads by index only, Store._writer_conn: a young inbox has no
        # statistics, and the planner's guess, half the rows pending, scanned all of it)
        if store._next_seq is not None:  # (a fresh connection checks for owed rewards first)
            # idle polls are most polls: one read in autocommit, one round trip (no BEGIN,
            # no ROLLBACK); the lease loop renews the lease meanwhile
            raw.driver_connection.autocommit = True
            try:
                cur.execute(sql.any_pending)
                pending = cur.fetchone()[0]
            finally:
                explicit_transactions(raw.driver_connection)
            if not pending:
                return out
        store._check_fence(cur)
        if store._next_seq is None:
            cur.execute(sql.max_seq)
            top = int(cur.fetchone()[0])
            out += store.owed_joined(top)
            store._next_seq = top + 1
        cur.execute(sql.take(store.item_features), (limit, store._next_seq - 1))
        rows = [_JoinRow(*row) for row in cur.fetchall()]
        raw.commit()
        cur.close()
    except BaseException:
        store._drop_writer_conn()  # rolled back; the next take starts on a fresh connection
        raise
    store.lease_extended = time.monotonic()  # the fence renewed the lease
    out += [Joined(row.seq, _feedback(row, row.value, store.item_features), 0.0, bool(row.is_default))
            for row in rows]
    if rows:
        store._next_seq = rows[-1].seq + 1
    if out:
        store.handed_seq = out[-1].seq
    return out


def sweep_into_inbox(store: Store, event_ids: list[str], value: float) -> int:
    """The learner's default rewards go through the inbox too, so that a ranker's late
    explicit reward and the default meet one unique constraint (whichever came first wins)."""
    return rewards_into_inbox(store, [RewardIn(e, value, is_default=True) for e in event_ids])


def rewards_into_inbox(store: Store, new_rewards: Sequence[RewardIn]) -> int:
    """Rewards the learner itself joins (defaults, a closed window's held rewards) into
    the inbox, where the first for each event wins; returns how many were taken."""
    if not new_rewards:
        return 0
    now = time.time()
    with store.engine.begin() as conn:
        chosen = dict(conn.execute(select(decisions.c.event_id, decisions.c.chosen)
                                   .where(decisions.c.event_id.in_([r.event_id for r in new_rewards]))).all())
        rows = [{"event_id": r.event_id, "value": r.value, "item_id": chosen[r.event_id], "ts": now,
                 "is_default": r.is_default, "copied": False} for r in new_rewards if r.event_id in chosen]
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        stmt = pg_insert(inbox).on_conflict_do_nothing(index_elements=["event_id"])
        return conn.execute(stmt, rows).rowcount if rows else 0


async def join_as_ranker(store: Store, learner: Any, what: str = "model", wait_s: float = 30.0) -> None:
    """A ranker's start: make sure the tables exist, then adopt the learner's newest
    published model (waiting up to ``wait_s`` for the learner to publish one)."""
    import asyncio

    store.mode = "ranker"
    for attempt in range(5):  # rankers starting together race to create the tables
        try:
            await asyncio.to_thread(store.create)
            break
        except Exception:  # noqa: BLE001 - a concurrent CREATE; the next try sees the tables
            if attempt == 4:
                raise
            await asyncio.sleep(0.2 * (attempt + 1))
    deadline = time.monotonic() + wait_s
    while (found := await asyncio.to_thread(learner.fetch_published)) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no published {what} in the store after {wait_s:g} s: start the learner "
                               "(recloop serve --role learner) on this store first")
        await asyncio.sleep(0.2)
    learner.adopt_published(*found)
