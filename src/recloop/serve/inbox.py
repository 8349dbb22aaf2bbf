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

from sqlalchemy import func, select, text, update

from recloop.serve.records import Decision, Joined, RewardIn
from recloop.serve.store import (CONFLICT, SAME, STORED, UNKNOWN, WRONG_ITEM, Store, StoreFenced, _D_COLS,
                                 _decision_from_row, _decision_row, _DecisionRow, _feedback, _joined_columns,
                                 decisions, inbox, rewards)


def _q(store: Store, table: Any) -> str:
    return (f'"{store.schema}".' if store.schema else "") + table.name


def ranker_write(store: Store, raw: Any, new_decisions: Sequence[Decision], new_rewards: Sequence[RewardIn]):
    """:meth:`Store.write_batch` of a ranker: the same answers, safe beside other rankers."""
    ph = store._sql.ph
    d_t, r_t, i_t = _q(store, decisions), _q(store, rewards), _q(store, inbox)
    now = time.time()
    cur = raw.cursor()
    d_out: list[tuple[str, Decision | None]] = []
    if new_decisions:
        # ON CONFLICT DO NOTHING: another ranker may store the same client event id at
        # the same moment; what is stored afterwards decides every answer
        cur.executemany(f"INSERT INTO {d_t} ({', '.join(_D_COLS)}) VALUES ({', '.join([ph] * len(_D_COLS))}) "
                        f"ON CONFLICT (event_id) DO NOTHING", [_decision_row(d, now) for d in new_decisions])
        ids = list({d.event_id for d in new_decisions if d.request_hash != "-"})
        stored = {}
        if ids:
            cur.execute(f"SELECT {', '.join(_D_COLS)} FROM {d_t} WHERE event_id IN ({', '.join([ph] * len(ids))})",
                        ids)
            stored = {row[0]: _DecisionRow(*row) for row in cur.fetchall()}
        mine: set[str] = set()
        for d in new_decisions:
            row = stored.get(d.event_id)
            if d.request_hash == "-" or (row is not None and row.ts == now and d.event_id not in mine
                                         and row.request_hash == d.request_hash and row.chosen == d.chosen):
                mine.add(d.event_id)
                d_out.append((STORED, None))
                continue
            old = _decision_from_row(row)
            d_out.append((SAME if old.request_hash == d.request_hash else CONFLICT, old))

    r_out: list[tuple[str, Any]] = []
    if new_rewards:
        ev = list({r.event_id for r in new_rewards})
        cur.execute(f"SELECT d.event_id, d.chosen, COALESCE(r.value, i.value), COALESCE(r.is_default, i.is_default), "
                    f"(r.seq IS NOT NULL OR i.id IS NOT NULL) FROM {d_t} d "
                    f"LEFT JOIN {r_t} r ON r.event_id = d.event_id LEFT JOIN {i_t} i ON i.event_id = d.event_id "
                    f"WHERE d.event_id IN ({', '.join([ph] * len(ev))})", ev)
        known = {row[0]: row for row in cur.fetchall()}
        fresh: dict[str, RewardIn] = {}
        for r in new_rewards:
            row = known.get(r.event_id)
            if row is None:
                r_out.append((UNKNOWN, None))
            elif r.item_id is not None and r.item_id != row[1]:
                r_out.append((WRONG_ITEM, row[1]))
            elif row[4]:
                r_out.append((SAME, None) if row[2] == r.value
                             else (CONFLICT, {"value": row[2], "is_default": bool(row[3])}))
            else:
                first = fresh.setdefault(r.event_id, r)
                r_out.append((STORED, None) if first.value == r.value
                             else (CONFLICT, {"value": first.value, "is_default": first.is_default}))
        if fresh:
            cur.executemany(f"INSERT INTO {i_t} (event_id, value, item_id, ts, is_default, copied) "
                            f"VALUES ({ph}, {ph}, {ph}, {ph}, {ph}, {ph}) ON CONFLICT (event_id) DO NOTHING",
                            [(r.event_id, r.value, known[r.event_id][1], now, r.is_default, False)
                             for r in fresh.values()])
            ids = list(fresh)
            cur.execute(f"SELECT event_id, value, is_default FROM {i_t} WHERE event_id IN "
                        f"({', '.join([ph] * len(ids))})", ids)
            won = {row[0]: row for row in cur.fetchall()}
            for j, r in enumerate(new_rewards):  # another ranker's reward for the event may have won
                if r_out[j][0] == STORED:
                    row = won[r.event_id]
                    if row[1] != r.value:
                        r_out[j] = (CONFLICT, {"value": row[1], "is_default": bool(row[2])})
    cur.close()
    return d_out, r_out, []


def take_inbox(store: Store, limit: int = 5000) -> list[Joined]:
    """The learner's step: move up to ``limit`` inbox rows into ``rewards`` (numbering
    them), in one fenced transaction; returns them as joined pairs in ``seq`` order,
    after any that an earlier take committed without hearing so (:meth:`Store.owed_joined`)."""
    with store.engine.begin() as conn:
        n = conn.execute(text(f"UPDATE {store._lease_table} SET expires = {store._now_sql} + :s, "
                              f"renewed = {store._now_sql} WHERE name = 'learner' AND token = :t"),
                         {"s": store.lease_s, "t": store.token}).rowcount
        if n != 1:
            raise StoreFenced(store._fenced_message())
        q = (select(inbox.c.id, inbox.c.event_id, inbox.c.value, inbox.c.is_default, inbox.c.ts,
                    *_joined_columns(store.item_features), rewards.c.seq.label("rseq"))
             .join(decisions, decisions.c.event_id == inbox.c.event_id)
             .outerjoin(rewards, rewards.c.event_id == inbox.c.event_id)
             .where(inbox.c.copied.is_(False)).order_by(inbox.c.id).limit(limit))
        rows = conn.execute(q).all()
        seq = int(conn.execute(select(func.coalesce(func.max(rewards.c.seq), 0))).scalar_one())
        out = store.owed_joined(seq)
        new = []
        for row in rows:
            if row.rseq is not None:  # already joined (by a single-process service before): not twice
                continue
            seq += 1
            new.append({"seq": seq, "event_id": row.event_id, "value": row.value, "item_id": row.chosen,
                        "ts": row.ts, "is_default": row.is_default})
            out.append(Joined(seq, _feedback(row, row.value, store.item_features), 0.0, bool(row.is_default)))
        if new:
            conn.execute(rewards.insert(), new)
        if rows:
            conn.execute(update(inbox).where(inbox.c.id.in_([r.id for r in rows])).values(copied=True))
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
