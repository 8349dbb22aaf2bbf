"""The Personalizer API scaled out: rankers log, one learner learns (PostgreSQL).

The same split as ``/v1`` (:mod:`recloop.serve.inbox`), on the Personalizer tables:

- a **ranker** (``recloop serve --role ranker``) stores each rank call - its event
  row, slot rows and decisions - in one transaction before it answers; two rankers
  given the same client event id agree through the event table's primary key (the
  first stored request decides SAME or CONFLICT for both). Rewards go into the inbox,
  where concurrent rankers agree on one per decision, exactly as for ``/v1``.
- **deferred activation across processes**: a ranker decides "hold this reward or
  join it" inside the reward's own transaction, after locking the event row
  (``FOR SHARE``) when it is deferred and not yet activated. Activation updates that
  row and reads the held rewards in one transaction, so a reward and an activation
  arriving at two rankers at once cannot miss each other: the reward is either held
  before the activation reads the held rewards, or it sees the event activated.
- the **learner** numbers inbox rows in its own fenced transactions
  (:func:`recloop.serve.inbox.take_inbox`) and reads them back with the Personalizer
  join (request, slot, mode), so it learns every reward once, in ``seq`` order, as a
  single process would; it closes reward windows (held sums, default rewards) through
  the inbox too, where a ranker's late reward and the learner's default meet one
  unique constraint.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Sequence

from recloop.serve.inbox import ranker_write, take_inbox
from recloop.serve.records import Joined, RewardIn
from recloop.serve.store import CONFLICT, SAME, STORED, _decision_row
from recloop.serve.tables import _D_COLS

if TYPE_CHECKING:
    from recloop.serve.personalizer.store import PersonalizerStore, RankEvent


def ranker_write_events(store: PersonalizerStore, raw: Any, new: Sequence[RankEvent],
                        new_rewards: Sequence[RewardIn]) -> tuple[list, list, list]:
    """:meth:`PersonalizerStore._write_batch` of a ranker: the same answers, safe beside
    other rankers. Nothing is joined here (the learner numbers rewards), so the third
    part of the answer is always empty."""
    ev_t, slot_t, held_t, ph = store.table_names()
    cur = raw.cursor()
    out: list[tuple[str, Any]] = []
    if new:
        first: dict[str, RankEvent] = {}
        for e in new:
            first.setdefault(e.event_id, e)  # a twin later in this batch meets the first
        now = time.time()
        rows = [(e.event_id, now, e.multislot, e.request, e.request_hash, e.mode, e.deferred, None)
                for e in first.values()]
        values = ", ".join(["(" + ", ".join([ph] * 8) + ")"] * len(rows))
        # RETURNING names the rows this transaction inserted; another ranker's insert of the
        # same id waits for it and then inserts nothing
        cur.execute(f"INSERT INTO {ev_t} (event_id, ts, multislot, request, request_hash, mode, deferred, "
                    f"activated) VALUES {values} ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
                    [x for r in rows for x in r])
        mine = {r[0] for r in cur.fetchall()}
        others = [eid for eid in first if eid not in mine]
        stored_hash = {eid: e.request_hash for eid, e in first.items()}
        if others:
            cur.execute(f"SELECT event_id, request_hash FROM {ev_t} WHERE event_id IN "
                        f"({', '.join([ph] * len(others))})", others)
            stored_hash.update(dict(cur.fetchall()))
        fresh = []
        for e in new:
            if e.event_id in mine and first[e.event_id] is e:
                fresh.append(e)
                out.append((STORED, None))
            else:
                out.append((SAME if stored_hash[e.event_id] == e.request_hash else CONFLICT, e.event_id))
        if fresh:
            # the event ids are new, so are their decision ids (derived from them)
            cur.executemany(f"INSERT INTO {store._sql.d} ({', '.join(_D_COLS)}) VALUES ({', '.join([ph] * len(_D_COLS))})",
                            [_decision_row(s.decision, now) for e in fresh for s in e.slots])
            cur.executemany(f"INSERT INTO {slot_t} (decision_id, event_id, slot_id, slot_index, baseline, "
                            f"model_choice) VALUES ({', '.join([ph] * 6)})",
                            [(s.decision.event_id, e.event_id, s.slot_id, i, s.baseline, s.model_choice)
                             for e in fresh for i, s in enumerate(e.slots)])
    r_out: list[tuple[str, Any]] = []
    if new_rewards:
        held = _held_now(cur, store, new_rewards)
        if held:
            cur.executemany(f"INSERT INTO {held_t} (decision_id, value, ts) VALUES ({ph}, {ph}, {ph})",
                            [(r.event_id, r.value, time.time()) for r in new_rewards if r.event_id in held])
        joining = [r for r in new_rewards if r.event_id not in held]
        _, joined_out, _ = ranker_write(store, raw, [], joining) if joining else ([], [], [])
        answers = iter(joined_out)
        r_out = [(STORED, None) if r.event_id in held else next(answers) for r in new_rewards]
    cur.close()
    return out, r_out, []


def _held_now(cur: Any, store: PersonalizerStore, new_rewards: Sequence[RewardIn]) -> set[str]:
    """Decisions among ``new_rewards`` whose event is deferred and not activated: their
    rewards are held. Their event rows stay share-locked until this transaction ends, so
    an activation waits for these holds and then reads them."""
    ev_t, slot_t, _, ph = store.table_names()
    ids = list({r.event_id for r in new_rewards})
    cur.execute(f"SELECT s.decision_id, e.event_id FROM {slot_t} s JOIN {ev_t} e ON e.event_id = s.event_id "
                f"WHERE e.deferred AND e.activated IS NULL AND s.decision_id IN ({', '.join([ph] * len(ids))})",
                ids)
    event_of = dict(cur.fetchall())
    if not event_of:
        return set()
    events = sorted(set(event_of.values()))  # one lock order for every ranker
    cur.execute(f"SELECT event_id FROM {ev_t} WHERE activated IS NULL AND event_id IN "
                f"({', '.join([ph] * len(events))}) ORDER BY event_id FOR SHARE", events)
    still = {row[0] for row in cur.fetchall()}  # re-read under the lock: an activation may have won
    return {d for d, e in event_of.items() if e in still}


def take_inbox_joined(store: PersonalizerStore, limit: int = 5000) -> list[Joined]:
    """The learner's step: number up to ``limit`` inbox rows (:func:`take_inbox`), then
    read them back as Personalizer records (request, slot, mode), in ``seq`` order."""
    moved = take_inbox(store, limit)
    if not moved:
        return []
    last = moved[-1].seq
    out = []
    for j in store.joined_after(moved[0].seq - 1):
        if j.seq > last:
            break
        out.append(j)
    return out
