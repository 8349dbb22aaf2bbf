"""The decision/reward store: every decision with its propensity, every reward joined once.

SQLAlchemy Core over SQLite (WAL, the embedded default) or PostgreSQL (by URL).
Three tables:

- ``decisions``: one row per ranked request — context, candidates, the ranking with
  scores and propensities, the chosen item, model version, time. ``event_id`` is unique.
- ``rewards``: at most one row per event (``event_id`` unique), in arrival order
  (``seq``). The learner consumes rewards in ``seq`` order, so "everything up to
  seq W" is a complete description of what a model has learned: its *watermark*.
- ``models``: snapshots: the saved policy itself (``blob``), its sha256, watermark and
  parent version. Kept in the store, not beside it, so two services never share
  snapshot files and a snapshot cannot outlive or miss the store it belongs to.

All writes of a batch happen in one transaction (:meth:`Store.write_batch`), so a
request is either fully stored or not at all. Exactly-once rewards come from the
unique constraint plus a read-check in the same transaction: the same value again
is a no-op, a different one is a conflict. The server runs one writer (one thread
in one process), which also makes ``seq`` commit order equal to ``seq`` order.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import typing
from typing import Any, Iterator, Sequence

import numpy as np
import orjson
from sqlalchemy import Integer, cast, create_engine, event, func, select, text
from sqlalchemy.engine import Engine

from recloop.core.types import Feedback
from recloop.serve.records import (Decision, Joined, RewardIn, chosen_features, pack_features, unpack_context,
                                   unpack_features)
from recloop.serve.tables import _D_COLS, _DecisionRow, _JoinRow, _meta, decisions, inbox, lease, models, rewards
from recloop.serve.write_sql import REWARD_COLS, _write_sql, json_rows, reward_rows_json

log = logging.getLogger("recloop.serve")

# Outcome codes of write_batch, one per input
STORED, SAME, CONFLICT, UNKNOWN, WRONG_ITEM = "stored", "same", "conflict", "unknown", "wrong_item"


def _sqlite_pragmas(synchronous: str):
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL fsyncs the WAL on every commit: durable even across power loss. The
        # writer groups many requests per commit, so this costs little per request.
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()
    return on_connect


class Store:
    """Decisions, rewards and model snapshots in one SQL database.

    ``schema`` puts the tables in a PostgreSQL schema (tests use one schema each).
    """

    # Look up each client-chosen decision id before inserting it (SAME/CONFLICT answers).
    # A subclass whose callers checked the ids already turns it off: one statement fewer.
    checks_decision_ids = True
    # PostgreSQL: a batch is one statement (_write_one_statement); a subclass that writes
    # tables of its own in the batch's transaction keeps the transaction (False)
    one_statement_batches = True

    def __init__(self, url: str, *, schema: str | None = None, synchronous: str = "FULL"):
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, got {synchronous!r}")
        self.url = url
        self.schema = schema
        self.is_sqlite = url.startswith("sqlite")
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://"):]  # psycopg 3, not psycopg2
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 10}
        else:
            kwargs.update(pool_size=4, max_overflow=4, pool_pre_ping=True,
                          # names this service's sessions in pg_stat_activity
                          connect_args={"application_name": f"recloop:{schema or 'public'}"[:63]})
        engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(engine, "connect", _sqlite_pragmas(synchronous.upper()))
        if schema:
            engine = engine.execution_options(schema_translate_map={None: schema})
        self.engine: Engine = engine
        self._raw: Any = None  # the write path's DBAPI connection (see _writer_conn)
        self._next_seq: int | None = None
        # the highest reward seq handed to the caller as joined (None: not known yet); see owed_joined
        self.handed_seq: int | None = None
        self._token: int | None = None   # the learner lease's fencing token, while this store holds it
        self._flock: int | None = None   # SQLite: fd of the database file, flock'ed
        self.lease_s = 10.0
        self.lease_extended = -1e9  # time.monotonic() of the last renewal (renew_lease or a commit)
        self.holder = ""
        self._now_sql = ("((julianday('now') - 2440587.5) * 86400.0)" if self.is_sqlite
                         else "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)")
        self._lease_table = (f'"{schema}".' if schema else "") + lease.name
        # "all": this process writes, orders and learns (one writer). "ranker": one of many
        # processes that log decisions and accept rewards into the inbox (no lease).
        self.mode = "all"
        # join each reward with the chosen item's features as stored with its decision
        # (for policies that learn from item features; the others need not read them)
        self.item_features = False

    def create(self) -> "Store":
        if self.schema:
            with self.engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
        _meta.create_all(self.engine)
        self._add_missing_columns()
        return self

    def _add_missing_columns(self) -> None:
        """Stores made before snapshots moved into them lack ``recloop_models.blob``; those
        made before the inbox's partial index lack it (create_all makes only new tables' indexes)."""
        from sqlalchemy import inspect
        with self.engine.begin() as conn:
            for ix in inbox.indexes:
                ix.create(conn, checkfirst=True)
        names = {c["name"] for c in inspect(self.engine).get_columns(models.name, schema=self.schema)}
        if "blob" not in names:
            kind = "BLOB" if self.is_sqlite else "BYTEA"
            with self.engine.begin() as conn:
                conn.execute(text(f"ALTER TABLE {(self.schema + '.') if self.schema else ''}{models.name} "
                                  f"ADD COLUMN blob {kind}"))

    def drop(self) -> None:
        if self.schema:
            with self.engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        else:
            _meta.drop_all(self.engine)
        self.engine.dispose()  # nothing is left to read: give the connections back to the server

    @property
    def token(self) -> int | None:
        return self._token

    def close(self) -> None:
        self._drop_writer_conn()
        token, self._token = self._token, None
        if token is not None:
            self._token = token
            self.release_writer()
        self.engine.dispose()
        self._unlock_file()  # after the pool: closing an fd of the file drops SQLite's own locks on it

    # ------------------------------------------------------------ one writer per store: the lease
    def claim_writer(self, lease_s: float = 10.0, wait_s: float | None = None,
                     partners: Sequence["Store"] = ()) -> int:
        """Become the store's only writer (and so its learner); returns the fencing token.

        Exactly-once learning relies on reward ``seq`` numbers being committed in order
        by one writer. The role is a lease row in the store: a fencing ``token``, its
        holder and an expiry on the database's clock. Claiming bumps the token; every
        later commit of the holder re-checks (and extends) it inside its own transaction
        (:meth:`write_batch`, :meth:`add_model`), so a writer whose lease was taken over
        can no longer commit anything, whatever its connections or lock files say.

        A held lease is taken over only once it expires (``wait_s``, default a little
        over ``lease_s``, is how long to wait for that before raising RuntimeError). On
        SQLite an exclusive ``flock`` on the database file itself (its inode: symlinks and
        hard links lead to the same lock) also proves the last holder dead, so a
        restart after ``kill -9`` takes over at once; it dies with the process.

        ``partners``: stores whose leases go with this one (the Personalizer tables beside
        /v1): all are claimed, or none. Claimed one by one, a second service could take
        an expired lease from a live first one and then be refused the other, leaving
        the first fenced on one store and the second stopped: no learner at all.
        """
        stores = [s for s in (self, *partners) if s._token is None]
        if not stores:
            return self._token  # type: ignore[return-value]
        same_db = all(not s.is_sqlite and s.engine.url == self.engine.url for s in stores)
        if len(stores) > 1 and not (same_db or all(s.is_sqlite for s in stores)):
            raise ValueError("partner leases must be in the same PostgreSQL database, or all on SQLite")
        proven_dead = False
        try:
            for s in stores:
                s.lease_s = float(lease_s)
                if s.is_sqlite:
                    path = s.engine.url.database
                    if path and path != ":memory:":
                        # before SQLite opens the file: a second name for it (a link) would get
                        # its own WAL file beside that name, and the two would corrupt each other
                        s._flock = _flock_database(path)  # RuntimeError when another process holds it
                    proven_dead = True  # no other live process holds the file (or it is private: :memory:)
                s.create()
        except BaseException:
            for s in stores:
                s._unlock_file()
            raise
        holder = f"{socket.gethostname()}:{os.getpid()}"
        deadline = time.monotonic() + (float(lease_s) * 1.5 + 1 if wait_s is None else wait_s)
        while True:
            if self.is_sqlite:  # one file each, each proven free by its flock: claim in turn
                held = None
                for s in stores:
                    with s.engine.begin() as conn:
                        s._take_lease(conn, [s], holder, proven_dead)
            else:  # one transaction locks every lease row: all are taken or none
                with self.engine.begin() as conn:
                    held = self._take_lease(conn, stores, holder, proven_dead)
            if held is None:
                return self._token  # type: ignore[return-value]  # (set by _take_lease)
            row, left, where = held
            if time.monotonic() + left > deadline:
                for s in stores:
                    s._unlock_file()
                raise RuntimeError(f"another recloop service holds the learner lease of {where} "
                                   f"({row.holder}, token {row.token}, {left:.1f}s left); it is still renewing it")
            time.sleep(min(max(left, 0.05), 1.0))

    def _take_lease(self, conn: Any, stores: Sequence["Store"], holder: str,
                    proven_dead: bool) -> tuple[Any, float, str] | None:
        """Inside ``conn``'s transaction: take the lease rows of ``stores`` if every one is
        free (absent, expired or proven dead); else the first held row, its time left and
        its store, and nothing is changed."""
        now = conn.execute(text(f"SELECT {self._now_sql}")).scalar_one()
        lock = "" if self.is_sqlite else " FOR UPDATE"
        rows = [conn.execute(text(f"SELECT token, holder, expires FROM {s._lease_table} "
                                  f"WHERE name = 'learner'{lock}")).first() for s in stores]
        for s, row in zip(stores, rows):
            if row is not None and not proven_dead and row.expires > now:
                return row, row.expires - now, s._where()
        for s, row in zip(stores, rows):
            token = 1 if row is None else row.token + 1
            values = {"t": token, "h": holder, "e": now + s.lease_s, "r": now}
            if row is None:
                conn.execute(text(f"INSERT INTO {s._lease_table} (name, token, holder, expires, renewed) "
                                  "VALUES ('learner', :t, :h, :e, :r)"), values)
            else:
                conn.execute(text(f"UPDATE {s._lease_table} SET token = :t, holder = :h, expires = :e, "
                                  "renewed = :r WHERE name = 'learner'"), values)
            s._token, s.holder = token, holder
        return None

    def renew_lease(self) -> None:
        """Extend the lease now (the heartbeat of an idle writer); raises StoreFenced when
        it was taken over, and the store's own error when the store cannot be written."""
        with self.engine.begin() as conn:
            n = conn.execute(text(f"UPDATE {self._lease_table} SET expires = {self._now_sql} + :s, "
                                  f"renewed = {self._now_sql} WHERE name = 'learner' AND token = :t"),
                             {"s": self.lease_s, "t": self._token}).rowcount
        if n != 1:
            raise StoreFenced(self._fenced_message())
        self.lease_extended = time.monotonic()

    def lease_due(self, every_s: float) -> bool:
        """Whether an idle-time renewal is due: no commit extended the lease in the last
        ``every_s``. Under load the writer's commits renew it; a renewal beside them
        would only contend for the database's write lock (SQLite's busy handler then
        sleeps the writer 1, 2, 5, 10 ms...: a 20 ms stall of every request every
        renewal)."""
        return time.monotonic() - self.lease_extended >= every_s

    def release_writer(self) -> None:
        """Give the lease up (expired now), so the next service need not wait for it."""
        token, self._token = self._token, None
        if token is not None:
            try:
                with self.engine.begin() as conn:
                    conn.execute(lease.update().where(lease.c.name == "learner", lease.c.token == token)
                                 .values(expires=0.0))
            except Exception as err:  # noqa: BLE001 - it expires by itself
                log.warning("could not release the learner lease: %s", err)

    def _unlock_file(self) -> None:
        fd, self._flock = self._flock, None
        if fd is not None:
            os.close(fd)

    def _where(self) -> str:
        return f"schema {self.schema or 'public'}" if not self.is_sqlite else str(self.engine.url.database)

    def _fenced_message(self) -> str:
        return (f"the learner lease of {self._where()} was taken over (this writer's token {self._token} is stale): "
                "another service is the learner now; this one can no longer write")

    def _lease_token(self) -> int:
        """This writer's fencing token; StoreFenced if it never held the lease."""
        if self._token is None:
            raise StoreFenced(f"this service does not hold the learner lease of {self._where()}")
        return self._token

    def _check_fence(self, cur: Any) -> None:
        """Inside a write transaction: still the lease holder? (extends it too)."""
        cur.execute(self._sql.renew, (self.lease_s, self._lease_token()))
        if cur.rowcount != 1:
            raise StoreFenced(self._fenced_message())

    # ------------------------------------------------------------ the one write path
    def _writer_conn(self) -> Any:
        """The DBAPI connection of the write path, kept open between batches.

        The write path speaks plain DBAPI (``executemany`` with fixed SQL text, which
        sqlite3 caches and psycopg prepares): SQLAlchemy's per-execution compile and
        bind processing cost more CPU than the database's own work, on the thread
        that shares the GIL with request handling.
        """
        if self._raw is None:
            self._raw = self.engine.raw_connection()
            self._sql = _write_sql(self.is_sqlite, self.schema)
            self._next_seq = None
            if not self.is_sqlite:  # session settings, reset when the connection is dropped
                conn = self._raw.driver_connection
                conn.autocommit = True
                # Every statement of the write path finds its rows by key: index scans,
                # whatever the statistics say. psycopg prepares a statement on its 5th run
                # and PostgreSQL may then keep a generic plan; one made on a table of a few
                # rows scans the whole table (EXPLAIN showed it for the decision lookups),
                # and keeps doing so as the table grows, until an ANALYZE.
                conn.execute("SET enable_seqscan = off")
                # a batch is one statement (_WriteSQL.ranker_batch, .batch), planned once: by
                # default it was re-planned for every batch (~1 ms)
                conn.execute("SET plan_cache_mode = force_generic_plan")
                conn.autocommit = self.mode == "ranker"  # ... and needs no BEGIN/COMMIT round trips
        return self._raw

    def _drop_writer_conn(self) -> None:
        raw, self._raw, self._next_seq = self._raw, None, None
        if raw is not None:
            try:
                raw.rollback()
                if not self.is_sqlite:  # back to the pool as it came out of it (a ranker's
                    raw.driver_connection.autocommit = False  # batches, a learner's takes)
                    raw.driver_connection.execute("RESET ALL")
                    raw.driver_connection.commit()
                raw.close()
            except Exception:  # noqa: BLE001 - a broken connection is thrown away either way
                try:
                    raw.invalidate()
                except Exception:  # noqa: BLE001
                    pass

    def write_batch(self, new_decisions: Sequence[Decision], new_rewards: Sequence[RewardIn],
                    ) -> tuple[list[tuple[str, Decision | None]], list[tuple[str, Any]], list[Joined]]:
        """Store decisions, then rewards, in one transaction.

        Returns, per decision, ``(STORED, None)``, ``(SAME, stored)`` (the event exists
        with the same request: an idempotent retry, answered with what was stored) or
        ``(CONFLICT, stored)``; per reward ``(STORED, seq)``, ``(SAME, seq)``,
        ``(CONFLICT, {value, is_default})``, ``(UNKNOWN, None)`` or ``(WRONG_ITEM, chosen id)``;
        and the newly joined pairs in ``seq`` order, for the learner.

        Reward ``seq`` numbers are assigned here (the last stored one plus 1, 2, ...):
        this store has one writer (:meth:`claim_writer`), and explicit numbers keep the
        batch one ``executemany`` on every backend.
        """
        raw = self._writer_conn()
        try:
            write = self._write_ranker if self.mode == "ranker" else self._write_batch
            out = write(raw, new_decisions, new_rewards)
            raw.commit()
        except BaseException:
            self._drop_writer_conn()  # rolled back; the next batch starts on a fresh connection
            raise
        if self.mode != "ranker":
            self.lease_extended = time.monotonic()  # the commit renewed the lease (_check_fence)
        if out[2]:
            self._next_seq = out[2][-1].seq + 1
            self.handed_seq = out[2][-1].seq
        return out

    def _write_ranker(self, raw: Any, new_decisions: Sequence[Decision], new_rewards: Sequence[RewardIn]):
        """The write of a ranker (one of many processes on the store: recloop.serve.inbox)."""
        from recloop.serve.inbox import ranker_write
        return ranker_write(self, raw, new_decisions, new_rewards)

    def _write_batch(self, raw: Any, new_decisions: Sequence[Decision], new_rewards: Sequence[RewardIn]):
        if not self.is_sqlite and self.one_statement_batches:
            return self._write_one_statement(raw, new_decisions, new_rewards)
        sql = self._sql
        now = time.time()
        d_out: list[tuple[str, Decision | None]] = []
        r_out: list[tuple[str, Any]] = []
        joined: list[Joined] = []
        cur = raw.cursor()
        if self.is_sqlite:
            cur.execute("BEGIN IMMEDIATE")
        self._check_fence(cur)  # first: holds the lease row for the whole transaction
        if self._next_seq is None:  # a fresh connection: the last one may have died in a commit
            cur.execute(sql.max_seq)
            top = int(cur.fetchone()[0])
            joined += self.owed_joined(top)
            self._next_seq = top + 1
        ids = ([d.event_id for d in new_decisions if d.request_hash != "-"]  # "-": a server-made uuid
               if self.checks_decision_ids else [])
        existing: dict[str, _DecisionRow] = {}
        if ids:
            cur.execute(sql.decisions_by_id(len(ids)), ids)
            existing = {row[0]: _DecisionRow(*row) for row in cur.fetchall()}
        rows: list[tuple] = []
        seen: dict[str, Decision] = {}
        for d in new_decisions:
            prev = existing.get(d.event_id) or seen.get(d.event_id)
            if prev is not None:
                old = prev if isinstance(prev, Decision) else _decision_from_row(prev)
                d_out.append((SAME if old.request_hash == d.request_hash else CONFLICT, old))
                continue
            seen[d.event_id] = d  # a twin later in this batch is answered with this one
            rows.append(_decision_row(d, now))
            d_out.append((STORED, None))
        if rows:
            sql.insert(cur, decisions, _D_COLS, rows)

        if new_rewards:
            ev = list({r.event_id for r in new_rewards})
            dec: dict[str, _JoinRow] = {}
            have: dict[str, _JoinRow | _Pending] = {}
            cur.execute(sql.join(len(ev), self.item_features), ev)
            for jrow in sql.join_rows(cur):  # each event's decision and reward, if any
                dec[jrow.event_id] = jrow
                if jrow.seq is not None:
                    have[jrow.event_id] = jrow
            fresh: list[tuple[int, RewardIn, Any]] = []
            for i, r in enumerate(new_rewards):
                dj = dec.get(r.event_id)
                if dj is None:
                    r_out.append((UNKNOWN, None))
                    continue
                if r.item_id is not None and r.item_id != dj.chosen:
                    r_out.append((WRONG_ITEM, dj.chosen))
                    continue
                had = have.get(r.event_id)
                if had is not None:
                    r_out.append((SAME, had.seq) if had.value == r.value
                                 else (CONFLICT, {"value": had.value, "is_default": bool(had.is_default)}))
                    continue
                have[r.event_id] = _Pending(r.value, r.is_default)
                fresh.append((i, r, dj))
                r_out.append((STORED, None))
            if fresh:
                seq0 = self._next_seq
                sql.insert(cur, rewards, REWARD_COLS, [(seq0 + j, r.event_id, r.value, d.chosen, now, r.is_default)
                                                       for j, (_, r, d) in enumerate(fresh)])
                for j, (i, r, d) in enumerate(fresh):
                    r_out[i] = (STORED, seq0 + j)
                    joined.append(Joined(seq0 + j, _feedback(d, r.value, self.item_features), r.received,
                                         r.is_default))
        cur.close()
        return d_out, r_out, joined

    def _write_one_statement(self, raw: Any, new_decisions: Sequence[Decision], new_rewards: Sequence[RewardIn]):
        """:meth:`_write_batch` on PostgreSQL: the same answers from ONE statement in
        autocommit (:meth:`_WriteSQL.batch`); a decision already stored (a retry, rare)
        is read back afterwards to answer it."""
        token = self._lease_token()
        sql = self._sql
        now = time.time()
        cur = raw.cursor()
        conn = raw.driver_connection
        conn.autocommit = True  # the statement is its own transaction: no BEGIN, no COMMIT
        try:
            if self._next_seq is None:  # a fresh connection: the last one may have died in a commit
                cur.execute(sql.max_seq)
                top = int(cur.fetchone()[0])
                owed = self.owed_joined(top)
                self._next_seq = top + 1
            else:
                owed = []
            first: dict[str, Decision] = {}
            for d in new_decisions:
                first.setdefault(d.event_id, d)
            rows = [_decision_row(d, now) for d in first.values()]
            cur.execute(sql.batch(self.item_features), (
                self.lease_s, token, json_rows(decisions, _D_COLS, rows), reward_rows_json(new_rewards),
                self._next_seq - 1, now))
            got = cur.fetchall()
            if not any(row[0] == 0 for row in got):
                raise StoreFenced(self._fenced_message())
            d_out = self._answer_decisions(cur, new_decisions, first, {row[1] for row in got if row[0] == 1})
        finally:
            explicit_transactions(conn)
        r_out: list[tuple[str, Any]] = []
        joined = list(owed)
        fresh: dict[str, tuple[float, bool]] = {}  # event -> (value, is_default) stored by this batch
        for (_, e, _o, chosen, context, propensity, oseq, ovalue, odflt, seq, value, dflt, item, *extra), r in zip(
                sorted((row for row in got if row[0] == 2), key=lambda row: row[2]), new_rewards):
            if chosen is None:
                r_out.append((UNKNOWN, None))
            elif item is not None and item != chosen:
                r_out.append((WRONG_ITEM, chosen))
            elif oseq is not None:
                r_out.append((SAME, oseq) if ovalue == value else (CONFLICT, {"value": ovalue, "is_default": bool(odflt)}))
            elif seq is not None:
                fresh[e] = (value, dflt)
                r_out.append((STORED, seq))
                jrow = _JoinRow(e, context, chosen, propensity, value, seq, dflt, *extra)
                joined.append(Joined(seq, _feedback(jrow, value, self.item_features), r.received, bool(dflt)))
            else:  # a twin of a reward this batch stored
                had_value, had_dflt = fresh[e]
                r_out.append((SAME, None) if had_value == value
                             else (CONFLICT, {"value": had_value, "is_default": bool(had_dflt)}))
        cur.close()
        joined[len(owed):] = sorted(joined[len(owed):], key=lambda j: j.seq)
        return d_out, r_out, joined

    def _answer_decisions(self, cur: Any, new_decisions: Sequence[Decision], first: dict[str, Decision],
                          mine: set[str]) -> list[tuple[str, Decision | None]]:
        """The answers to a batch's decisions after an ``ON CONFLICT DO NOTHING`` insert of
        ``first`` (the first decision of each event id) stored ``mine``: STORED for those;
        the rest (stored before, by another ranker, or a twin in this batch) are read
        back and answered SAME or CONFLICT with what is stored."""
        lost = [e for e in first if e not in mine]
        stored: dict[str, Decision] = {e: first[e] for e in mine}
        if lost:
            cur.execute(self._sql.decisions_by_id(len(lost)), lost)
            stored.update((row[0], _decision_from_row(_DecisionRow(*row))) for row in cur.fetchall())
        out: list[tuple[str, Decision | None]] = []
        for d in new_decisions:
            if d.event_id in mine and first[d.event_id] is d:
                out.append((STORED, None))
            else:
                old = stored[d.event_id]
                out.append((SAME if old.request_hash == d.request_hash else CONFLICT, old))
        return out

    def owed_joined(self, top: int) -> list[Joined]:
        """Rewards this writer committed but never handed over (seq in (handed_seq, top]).

        A commit can succeed while its answer is lost (the server restarts, the connection
        dies between COMMIT and its reply): the batch is stored, but the caller heard an
        error, and the client's retry is "the same reward again", which stores nothing new.
        Only this writer numbers rewards, so every seq above the last one it handed over
        is such a batch; the next transaction hands them over, in order, before its own.
        ``top`` is the highest seq stored, read in the current transaction. (They are read
        through :meth:`joined_after`, on another connection: they are committed.)
        """
        if self.handed_seq is None:  # the first transaction of this writer: nothing was lost yet
            self.handed_seq = top
        if top <= self.handed_seq:
            return []
        owed = [j for j in self.joined_after(self.handed_seq) if j.seq <= top]
        log.warning("%d rewards (seq %d-%d) were committed by a transaction whose answer was lost; "
                    "handing them to the learner now", len(owed), self.handed_seq + 1, top)
        return owed

    # ------------------------------------------------------------ reads
    def joined_after(self, watermark: int, chunk: int = 5000, item_features: bool | None = None) -> Iterator[Joined]:
        """Joined (decision, reward) pairs with ``seq > watermark``, in ``seq`` order; with the
        chosen items' features when ``item_features`` (default: :attr:`item_features`)."""
        with_features = self.item_features if item_features is None else item_features
        last = watermark
        while True:
            q = (select(rewards.c.seq, rewards.c.value, *_joined_columns(with_features))
                 .join(decisions, decisions.c.event_id == rewards.c.event_id)
                 .where(rewards.c.seq > last).order_by(rewards.c.seq).limit(chunk))
            with self.engine.connect() as conn:
                rows = conn.execute(q).all()
            for row in rows:
                yield Joined(row.seq, _feedback(row, row.value, with_features))
            if len(rows) < chunk:
                return
            last = rows[-1].seq

    def max_reward_seq(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.max(rewards.c.seq), 0))).scalar_one())

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {
                "decisions": int(conn.execute(select(func.count()).select_from(decisions)).scalar_one()),
                "rewards": int(conn.execute(select(func.count()).select_from(rewards)).scalar_one()),
            }

    def decision(self, event_id: str) -> Decision | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(decisions).where(decisions.c.event_id == event_id)).first()
        return None if row is None else _decision_from_row(row)

    def reward(self, event_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(rewards).where(rewards.c.event_id == event_id)).first()
        return None if row is None else dict(row._mapping)

    def expired_without_reward(self, before_ts: float, after_seq: int, limit: int = 5000,
                               with_inbox: bool = False) -> tuple[list[str], int]:
        """Event ids decided before ``before_ts`` (and after decision seq ``after_seq``)
        that have no reward (``with_inbox``: none waiting in the rankers' inbox either);
        also the highest decision seq examined."""
        q = (select(decisions.c.seq, decisions.c.event_id,
                    (inbox.c.id if with_inbox else rewards.c.seq).label("rseq"))
             .outerjoin(inbox if with_inbox else rewards,
                        (inbox.c.event_id if with_inbox else rewards.c.event_id) == decisions.c.event_id)
             .where(decisions.c.seq > after_seq, decisions.c.ts < before_ts)
             .order_by(decisions.c.seq).limit(limit))
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        last = rows[-1].seq if rows else after_seq
        ids = [r.event_id for r in rows if r.rseq is None]
        if with_inbox and ids:  # nor joined directly (by a single-process service before)
            with self.engine.connect() as conn:
                done = set(conn.execute(select(rewards.c.event_id).where(rewards.c.event_id.in_(ids))).scalars())
            ids = [e for e in ids if e not in done]
        return ids, last

    def logs(self, since: float = 0.0, limit: int | None = None) -> list[Any]:
        """Decisions made at or after ``since`` (unix seconds) with their reward (or None)."""
        q = (select(decisions.c.event_id, decisions.c.ts, decisions.c.context, decisions.c.candidates,
                    decisions.c.chosen, decisions.c.propensity, decisions.c.model_version,
                    rewards.c.value.label("reward"))
             .outerjoin(rewards, rewards.c.event_id == decisions.c.event_id)
             .where(decisions.c.ts >= since).order_by(decisions.c.seq))
        if limit:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return typing.cast(list, conn.execute(q).all())  # Result.all() returns a list; its stub says Sequence

    def timeline(self, bucket_s: float, since: float) -> list[dict]:
        """Per time bucket (by decision time): decisions, joined rewards, mean reward."""
        b = cast(decisions.c.ts / bucket_s, Integer).label("b")
        q = (select(b, func.count().label("n"), func.count(rewards.c.seq).label("joined"),
                    func.avg(rewards.c.value).label("mean"),
                    func.sum(cast(rewards.c.is_default, Integer)).label("defaults"))
             .outerjoin(rewards, rewards.c.event_id == decisions.c.event_id)
             .where(decisions.c.ts >= since).group_by(b).order_by(b))
        with self.engine.connect() as conn:
            return [{"t": int(r.b) * bucket_s, "decisions": int(r.n), "rewards": int(r.joined),
                     "default_rewards": int(r.defaults or 0),
                     "ctr": None if r.mean is None else float(r.mean)} for r in conn.execute(q)]

    # ------------------------------------------------------------ model snapshots
    def add_model(self, *, version: int, path: str = "store", sha256: str, watermark: int, parent: int | None,
                  note: str, blob: bytes | None = None) -> None:
        with self.engine.begin() as conn:
            if self._token is not None:  # a snapshot is a commit of the learner: fenced like the others
                n = conn.execute(text(f"UPDATE {self._lease_table} SET renewed = {self._now_sql} "
                                      "WHERE name = 'learner' AND token = :t"), {"t": self._token}).rowcount
                if n != 1:
                    raise StoreFenced(self._fenced_message())
            conn.execute(models.insert().values(version=version, path=path, sha256=sha256, watermark=watermark,
                                                parent=parent, note=note, ts=time.time(), blob=blob))

    def list_models(self) -> list[dict]:
        """Every snapshot's row, newest first (without the saved policies themselves)."""
        cols = [c for c in models.c if c.name != "blob"]
        q = select(*cols, models.c.blob.is_not(None).label("stored")).order_by(models.c.version.desc())
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def model_blob(self, version: int) -> bytes | None:
        """The saved policy of snapshot ``version`` (None once pruned)."""
        with self.engine.connect() as conn:
            blob = conn.execute(select(models.c.blob).where(models.c.version == version)).scalar_one_or_none()
        return None if blob is None else bytes(blob)

    def prune_models(self, keep: int) -> int:
        """Drop the saved policies of all but the newest ``keep`` snapshots (their rows stay,
        as history). Returns how many were dropped."""
        newest = select(models.c.version).order_by(models.c.version.desc()).limit(keep).scalar_subquery()
        with self.engine.begin() as conn:
            return conn.execute(models.update().where(models.c.blob.is_not(None), models.c.version.not_in(newest))
                                .values(blob=None)).rowcount

    def latest_model(self) -> dict | None:
        """The newest snapshot's row (without its saved policy), or None."""
        cols = [c for c in models.c if c.name != "blob"]
        q = select(*cols, models.c.blob.is_not(None).label("stored")).order_by(models.c.version.desc()).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        return None if row is None else dict(row._mapping)

    def next_model_version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.max(models.c.version), -1))).scalar_one()) + 1


def explicit_transactions(conn: Any) -> None:
    """Turn a psycopg connection's autocommit back off after a statement run in it. A
    connection the statement broke (the server went away) is left as it is: the caller
    drops it, and its error, not "can't change autocommit", is the one to report."""
    if not conn.closed and conn.info.transaction_status == conn.info.transaction_status.IDLE:
        conn.autocommit = False


class StoreFenced(RuntimeError):
    """This writer's learner lease was taken over: it must not commit anything more."""


def _flock_database(path: str) -> int:
    """An exclusive flock on the database file itself (not on a name: symlinks and
    hard links reach the same inode). SQLite's own locks are POSIX record locks, which
    flock does not touch. Returns the fd; RuntimeError when another process holds it."""
    import fcntl
    real = os.path.realpath(path)
    fd = os.open(real, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise RuntimeError(f"another recloop service is already writing to {real}"
                           + (f" (reached through {path})" if real != os.path.abspath(path) else "")) from None
    return fd


class _Pending:
    """A reward accepted earlier in the same batch (its seq is not known yet)."""

    __slots__ = ("value", "is_default")

    def __init__(self, value: float, is_default: bool):
        self.value = value
        self.is_default = is_default

    @property
    def seq(self) -> None:
        return None


def _decision_row(d: Decision, ts: float) -> tuple:
    """The row of ``d``, decided at ``ts``, in ``_D_COLS`` order."""
    feats, dim = d.packed if d.packed is not None else pack_features([f for _, f in d.candidates])
    return (d.event_id, ts, np.asarray(d.context, dtype=np.float64).tobytes(),
            orjson.dumps([c for c, _ in d.candidates]).decode(), feats, dim,
            orjson.dumps(list(zip(d.items, d.scores, d.propensities)), option=orjson.OPT_SERIALIZE_NUMPY).decode(),
            d.chosen, d.propensities[0], d.model_version, d.request_hash)


def _decision_from_row(row: Any) -> Decision:
    ranking = json.loads(row.ranking)
    ids = json.loads(row.candidates)
    return Decision(
        event_id=row.event_id, context=unpack_context(row.context).tolist(),
        candidates=list(zip(ids, unpack_features(row.features, row.features_dim, len(ids)))),
        items=[r[0] for r in ranking], scores=[r[1] for r in ranking], propensities=[r[2] for r in ranking],
        model_version=row.model_version, request_hash=row.request_hash, ts=row.ts,
    )


def _joined_columns(item_features: bool) -> list:
    """The decision's columns a joined reward needs (see :func:`_feedback`)."""
    cols = [decisions.c.context, decisions.c.chosen, decisions.c.propensity]
    return cols + [decisions.c.candidates, decisions.c.features, decisions.c.features_dim] if item_features else cols


def _feedback(row: Any, value: float, item_features: bool = False) -> Feedback:
    ctx = unpack_context(row.context)
    feats = (chosen_features(row.candidates, row.features, row.features_dim, row.chosen) if item_features
             else None)
    return Feedback(item_id=row.chosen, reward=float(value), context=ctx if ctx.size else None,
                    item_features=feats, propensity=float(row.propensity))
