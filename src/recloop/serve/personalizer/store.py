"""The Personalizer loop's store: recloop's decision/reward store plus what Personalizer adds.

It is :class:`~recloop.serve.store.Store` itself (decisions with propensities,
rewards joined exactly once under increasing ``seq``, model snapshots), in its own
tables - a sibling SQLite file or PostgreSQL schema - so the ``/v1`` model and the
Personalizer model never learn from each other's events. Added tables:

- ``recloop_pz_events``: one row per rank call (the client's event id): the request
  as sent (its features, for learning and offline evaluation), learning mode,
  deferred activation and when it was activated;
- ``recloop_pz_slots``: one row per decision (one per slot; one for a single-slot
  rank): its event, slot, baseline action and the model's own choice (Apprentice
  metrics);
- ``recloop_pz_reward_calls``: rewards held back - for ``sum`` aggregation, or sent
  before a deferred event was activated - joined when the reward window closes;
- ``recloop_pz_settings`` (service configuration, learning settings) and
  ``recloop_pz_evaluations``.

An event row and its slot decisions are written in the decision's own transaction
(:meth:`PersonalizerStore._write_batch`), so a rank is stored completely or not at
all, and a retried rank with the same event id is answered with what was stored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import orjson
from sqlalchemy import (Boolean, Column, Float, Integer, LargeBinary, MetaData, String, Table, Text, delete, func,
                        insert, select, update)

from recloop.serve.records import Decision, Joined, RewardIn
from recloop.serve.store import CONFLICT, SAME, STORED, Store
from recloop.serve.tables import decisions, inbox, rewards

_meta = MetaData()

events = Table(
    "recloop_pz_events", _meta,
    Column("event_id", String(128), primary_key=True),
    Column("ts", Float, nullable=False, index=True),
    Column("multislot", Boolean, nullable=False),
    Column("request", LargeBinary, nullable=False),   # orjson: {"context", "actions", "slots"}
    Column("request_hash", String(64), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("deferred", Boolean, nullable=False),
    Column("activated", Float, nullable=True),
)

slots = Table(
    "recloop_pz_slots", _meta,
    Column("decision_id", String(160), primary_key=True),
    Column("event_id", String(128), nullable=False, index=True),
    Column("slot_id", String(256), nullable=False),
    Column("slot_index", Integer, nullable=False),
    Column("baseline", String(256), nullable=False),
    Column("model_choice", String(256), nullable=False),
)

reward_calls = Table(
    "recloop_pz_reward_calls", _meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("decision_id", String(160), nullable=False, index=True),
    Column("value", Float, nullable=False),
    Column("ts", Float, nullable=False),
)

settings = Table(
    "recloop_pz_settings", _meta,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

evaluations = Table(
    "recloop_pz_evaluations", _meta,
    Column("id", String(256), primary_key=True),
    Column("created", Float, nullable=False),
    Column("status", String(32), nullable=False),
    Column("spec", Text, nullable=False),
    Column("result", Text, nullable=True),
)


@dataclass(frozen=True, slots=True)
class SlotDecision:
    slot_id: str
    baseline: str
    model_choice: str
    decision: Decision  # its event_id is the internal decision id (decision_id())


@dataclass(frozen=True, slots=True)
class RankEvent:
    """One rank call as stored: the event and its slot decisions."""

    event_id: str
    multislot: bool
    request: bytes
    request_hash: str
    mode: str
    deferred: bool
    slots: list[SlotDecision]


@dataclass(frozen=True, slots=True)
class PzFeedback:
    """A joined reward with what learning needs: the request's features, the slot, the mode."""

    decision_id: str
    event_id: str
    slot_index: int
    request: dict
    chosen: str
    reward: float
    propensity: float
    mode: str
    baseline: str
    rows: Any = None  # (model key, sparse rows) featurised at rank time, when the loop still has them


def decision_id(event_id: str, slot_id: str | None) -> str:
    """Single-slot decisions and slot decisions live apart, whatever ids clients choose."""
    return f"s:{event_id}" if slot_id is None else f"m:{event_id}#{slot_id}"


class PersonalizerStore(Store):
    """:class:`Store` with the Personalizer tables (see the module docstring)."""

    # decision ids are the event id and the slot: the events check in _write_batch covers them
    checks_decision_ids = False
    one_statement_batches = False  # its events and slots go in the same transaction

    def create(self) -> "PersonalizerStore":
        super().create()
        _meta.create_all(self.engine)
        return self

    def drop(self) -> None:
        if not self.schema:
            _meta.drop_all(self.engine)
        super().drop()

    # ------------------------------------------------------------ the write path
    def table_names(self) -> tuple[str, str, str, str]:
        """The event, slot and held-reward tables as SQL names, and the placeholder."""
        prefix = f'"{self.schema}".' if self.schema else ""
        return (prefix + events.name, prefix + slots.name, prefix + reward_calls.name,
                "?" if self.is_sqlite else "%s")

    def _write_ranker(self, raw: Any, new_decisions: Sequence[Any], new_rewards: Sequence[RewardIn]):
        from recloop.serve.personalizer.scaleout import ranker_write_events
        return ranker_write_events(self, raw, new_decisions, new_rewards)

    def _write_batch(self, raw: Any, new_decisions: Sequence[Any], new_rewards: Sequence[RewardIn]):
        """The decisions of this store are :class:`RankEvent` records (an event with its slot decisions)."""
        new: Sequence[RankEvent] = new_decisions
        ev_table, slot_table, _, ph = self.table_names()
        cur = raw.cursor()
        existing: dict[str, str] = {}
        if new:
            ids = [e.event_id for e in new]
            cur.execute(f"SELECT event_id, request_hash FROM {ev_table} WHERE event_id IN "
                        f"({', '.join([ph] * len(ids))})", ids)
            existing = dict(cur.fetchall())
        out: list[tuple[str, Any]] = []
        fresh: list[RankEvent] = []
        for e in new:
            prev = existing.get(e.event_id)
            if prev is not None:
                out.append((SAME if prev == e.request_hash else CONFLICT, e.event_id))
                continue
            existing[e.event_id] = e.request_hash  # a twin later in this batch meets this one
            fresh.append(e)
            out.append((STORED, None))
        cur.close()
        flat = [s.decision for e in fresh for s in e.slots]
        d_out, r_out, joined = super()._write_batch(raw, flat, new_rewards)
        if any(code != STORED for code, _ in d_out):  # a decision id written outside this loop
            raise RuntimeError("a Personalizer decision id already exists in the store")
        cur = raw.cursor()
        if fresh:
            now = time.time()
            # few statements per table, not one per row (_WriteSQL.insert says why)
            self._sql.insert(cur, events, ("event_id", "ts", "multislot", "request", "request_hash", "mode",
                                           "deferred", "activated"),
                             [(e.event_id, now, e.multislot, e.request, e.request_hash, e.mode, e.deferred, None)
                              for e in fresh])
            self._sql.insert(cur, slots, ("decision_id", "event_id", "slot_id", "slot_index", "baseline",
                                          "model_choice"),
                             [(s.decision.event_id, e.event_id, s.slot_id, i, s.baseline, s.model_choice)
                              for e in fresh for i, s in enumerate(e.slots)])
        by_seq = {res[1]: r.event_id for r, res in zip(new_rewards, r_out) if res[0] == STORED}
        if by_seq:  # (the rest of ``joined``: owed pairs, read as joined_after reads them)
            ids = list({by_seq[j.seq] for j in joined if j.seq in by_seq})
            cur.execute(f"SELECT s.decision_id, s.event_id, s.slot_index, s.baseline, e.request, e.mode "
                        f"FROM {slot_table} s JOIN {ev_table} e ON e.event_id = s.event_id "
                        f"WHERE s.decision_id IN ({', '.join([ph] * len(ids))})", ids)
            info = {row[0]: row for row in cur.fetchall()}
            joined = [_joined(j, info[by_seq[j.seq]]) if j.seq in by_seq else j for j in joined]
        cur.close()
        return out, r_out, joined

    # ------------------------------------------------------------ reads
    def joined_after(self, watermark: int, chunk: int = 2000, item_features: bool | None = None) -> Iterator[Joined]:
        # item_features: Personalizer's model featurises actions itself (from the stored request)
        last = watermark
        while True:
            q = (select(rewards.c.seq, rewards.c.value, rewards.c.is_default, decisions.c.chosen,
                        decisions.c.propensity, slots.c.decision_id, slots.c.event_id, slots.c.slot_index,
                        slots.c.baseline, events.c.request, events.c.mode)
                 .join(decisions, decisions.c.event_id == rewards.c.event_id)
                 .join(slots, slots.c.decision_id == rewards.c.event_id)
                 .join(events, events.c.event_id == slots.c.event_id)
                 .where(rewards.c.seq > last).order_by(rewards.c.seq).limit(chunk))
            with self.engine.connect() as conn:
                rows = conn.execute(q).all()
            for row in rows:
                yield Joined(row.seq, _feedback(row.decision_id, row.event_id, row.slot_index, row.baseline,
                                                row.request, row.mode, row.chosen, row.propensity, row.value),
                             is_default=bool(row.is_default))
            if len(rows) < chunk:
                return
            last = rows[-1].seq

    def event(self, event_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(events).where(events.c.event_id == event_id)).first()
            if row is None:
                return None
            slot_rows = conn.execute(select(slots).where(slots.c.event_id == event_id)
                                     .order_by(slots.c.slot_index)).all()
        return {**row._mapping, "slots": [dict(s._mapping) for s in slot_rows]}

    def open_deferred(self, since: float) -> list[str]:
        """Deferred events ranked after ``since`` and not activated (their rewards are held)."""
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(events.c.event_id).where(
                events.c.deferred.is_(True), events.c.activated.is_(None), events.c.ts >= since))]

    def activate(self, event_id: str, now: float) -> dict[str, list[float]]:
        """Mark the event activated; returns the rewards held for its decisions, read after
        the update in the same transaction (a ranker holding a reward for this event at
        this moment has the row share-locked: the update waits for it, see ``scaleout``)."""
        with self.engine.begin() as conn:
            conn.execute(update(events).where(events.c.event_id == event_id, events.c.activated.is_(None))
                         .values(activated=now))
            out: dict[str, list[float]] = {}
            for row in conn.execute(select(reward_calls.c.decision_id, reward_calls.c.value)
                                    .join(slots, slots.c.decision_id == reward_calls.c.decision_id)
                                    .where(slots.c.event_id == event_id).order_by(reward_calls.c.id)):
                out.setdefault(row.decision_id, []).append(row.value)
        return out

    def hold_reward(self, decision: str, value: float, now: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(reward_calls).values(decision_id=decision, value=value, ts=now))

    def held_rewards(self, decision_ids: Sequence[str]) -> dict[str, list[float]]:
        """Rewards held per decision, in arrival order."""
        if not decision_ids:
            return {}
        out: dict[str, list[float]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(select(reward_calls.c.decision_id, reward_calls.c.value)
                                    .where(reward_calls.c.decision_id.in_(list(decision_ids)))
                                    .order_by(reward_calls.c.id)):
                out.setdefault(row.decision_id, []).append(row.value)
        return out

    def expired(self, before_ts: float, after_seq: int, limit: int = 5000,
                with_inbox: bool = False) -> tuple[list[dict], int]:
        """Decisions made before ``before_ts`` (decision seq > ``after_seq``) with no joined
        reward (``with_inbox``: none waiting in the rankers' inbox either), with their
        event's deferral and activation; and the last seq examined."""
        q = (select(decisions.c.seq, decisions.c.event_id.label("decision_id"), rewards.c.seq.label("rseq"),
                    (inbox.c.id if with_inbox else rewards.c.seq).label("iid"), events.c.deferred,
                    events.c.activated)
             .outerjoin(rewards, rewards.c.event_id == decisions.c.event_id)
             .join(slots, slots.c.decision_id == decisions.c.event_id)
             .join(events, events.c.event_id == slots.c.event_id)
             .where(decisions.c.seq > after_seq, decisions.c.ts < before_ts)
             .order_by(decisions.c.seq).limit(limit))
        if with_inbox:
            q = q.outerjoin(inbox, inbox.c.event_id == decisions.c.event_id)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        last = rows[-1].seq if rows else after_seq
        return [dict(r._mapping) for r in rows if r.rseq is None and r.iid is None], last

    def log_range(self) -> tuple[float | None, float | None]:
        with self.engine.connect() as conn:
            row = conn.execute(select(func.min(events.c.ts), func.max(events.c.ts))).one()
        return row[0], row[1]

    def logged(self, start: float, end: float) -> list[Any]:
        """Every rewarded decision of events ranked in [start, end), oldest first."""
        q = (select(decisions.c.ts, decisions.c.ranking, decisions.c.chosen, decisions.c.propensity,
                    rewards.c.value.label("reward"), slots.c.slot_index, slots.c.baseline, events.c.request,
                    events.c.mode)
             .join(rewards, rewards.c.event_id == decisions.c.event_id)
             .join(slots, slots.c.decision_id == decisions.c.event_id)
             .join(events, events.c.event_id == slots.c.event_id)
             .where(events.c.ts >= start, events.c.ts < end).order_by(decisions.c.seq))
        with self.engine.connect() as conn:
            return list(conn.execute(q).all())

    def apprentice_counts(self, last: int = 1000) -> dict[str, Any]:
        """Apprentice-mode events with a reward: how many, how many the model would have
        chosen the same (imitated), their rewards; overall and for the latest ``last``."""
        q = (select(rewards.c.seq, rewards.c.value, rewards.c.ts, events.c.ts.label("ets"),
                    (slots.c.model_choice == slots.c.baseline).label("imitated"))
             .join(slots, slots.c.decision_id == rewards.c.event_id)
             .join(events, events.c.event_id == slots.c.event_id)
             .where(events.c.mode == "Apprentice").order_by(rewards.c.seq))
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return {"rows": [(bool(r.imitated), float(r.value), float(r.ets), float(r.ts)) for r in rows], "last": last}

    def delete_logs(self, before: float | None = None) -> int:
        """Delete logged events (all, or ranked before ``before``). The reward with the
        highest seq stays: the sequence must never restart below the learner's watermark."""
        cut = time.time() + 1 if before is None else before
        with self.engine.begin() as conn:
            gone = [r[0] for r in conn.execute(select(slots.c.decision_id).join(events, events.c.event_id
                                                                                 == slots.c.event_id)
                                               .where(events.c.ts < cut))]
            top = conn.execute(select(func.max(rewards.c.seq))).scalar()
            for i in range(0, len(gone), 500):
                part = gone[i:i + 500]
                conn.execute(delete(decisions).where(decisions.c.event_id.in_(part)))
                conn.execute(delete(rewards).where(rewards.c.event_id.in_(part), rewards.c.seq != top))
                conn.execute(delete(reward_calls).where(reward_calls.c.decision_id.in_(part)))
                conn.execute(delete(inbox).where(inbox.c.event_id.in_(part)))  # rankers' rewards (scale-out)
                conn.execute(delete(slots).where(slots.c.decision_id.in_(part)))
            conn.execute(delete(events).where(events.c.ts < cut))
        return len(gone)

    # ------------------------------------------------------------ settings and evaluations
    def get_setting(self, key: str) -> Any:
        with self.engine.connect() as conn:
            value = conn.execute(select(settings.c.value).where(settings.c.key == key)).scalar()
        return None if value is None else orjson.loads(value)

    def put_setting(self, key: str, value: Any) -> None:
        text = orjson.dumps(value).decode()
        with self.engine.begin() as conn:
            if conn.execute(update(settings).where(settings.c.key == key).values(value=text)).rowcount == 0:
                conn.execute(insert(settings).values(key=key, value=text))

    def put_evaluation(self, eval_id: str, status: str, spec: dict, result: dict | None = None) -> None:
        row = {"status": status, "spec": orjson.dumps(spec).decode(),
               "result": None if result is None else orjson.dumps(result).decode()}
        with self.engine.begin() as conn:
            if conn.execute(update(evaluations).where(evaluations.c.id == eval_id).values(**row)).rowcount == 0:
                conn.execute(insert(evaluations).values(id=eval_id, created=time.time(), **row))

    def get_evaluation(self, eval_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(evaluations).where(evaluations.c.id == eval_id)).first()
        return None if row is None else _eval_row(row)

    def list_evaluations(self) -> list[dict]:
        with self.engine.connect() as conn:
            return [_eval_row(r) for r in conn.execute(select(evaluations).order_by(evaluations.c.created))]

    def delete_evaluation(self, eval_id: str) -> bool:
        with self.engine.begin() as conn:
            return conn.execute(delete(evaluations).where(evaluations.c.id == eval_id)).rowcount > 0


def _eval_row(row: Any) -> dict:
    return {"id": row.id, "created": row.created, "status": row.status, "spec": orjson.loads(row.spec),
            "result": None if row.result is None else orjson.loads(row.result)}


def _feedback(decision: str, event_id: str, slot_index: int, baseline: str, request: bytes, mode: str,
              chosen: str, propensity: float, value: float) -> PzFeedback:
    return PzFeedback(decision, event_id, int(slot_index), orjson.loads(request), chosen, float(value),
                      float(propensity), mode, baseline)


def _joined(j: Joined, row: Any) -> Joined:
    fb = j.feedback
    return Joined(j.seq, _feedback(row[0], row[1], row[2], row[3], row[4], row[5], fb.item_id, fb.propensity,
                                   fb.reward), j.received, j.is_default)
