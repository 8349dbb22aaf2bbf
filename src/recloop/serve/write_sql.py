"""The store's write path as plain DBAPI SQL text, one set per backend (see
:meth:`recloop.serve.store.Store._writer_conn` for why it is not SQLAlchemy).
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import orjson
from sqlalchemy import Boolean, Float, Integer, LargeBinary, Table

from recloop.serve.tables import _D_COLS, _JoinRow, decisions, inbox, lease, rewards

REWARD_COLS = ("seq", "event_id", "value", "item_id", "ts", "is_default")


class _WriteSQL:
    """Statements of the write path for one backend (``?`` for sqlite3, ``%s`` for psycopg)."""

    def __init__(self, is_sqlite: bool, schema: str | None):
        self.ph = "?" if is_sqlite else "%s"
        self.prefix = prefix = f'"{schema}".' if schema else ""
        self.d, self.r, self.i = prefix + decisions.name, prefix + rewards.name, prefix + inbox.name
        self.max_seq = f"SELECT COALESCE(MAX(seq), 0) FROM {self.r}"
        self.any_pending = f"SELECT EXISTS (SELECT 1 FROM {self.i} WHERE NOT copied)"
        now = ("((julianday('now') - 2440587.5) * 86400.0)" if is_sqlite else "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)")
        self.renew = (f"UPDATE {prefix}{lease.name} SET expires = {now} + {self.ph}, renewed = {now} "
                      f"WHERE name = 'learner' AND token = {self.ph}")
        self._in: dict[int, str] = {}
        self._multi: dict[tuple[str, int], str] = {}          # SQLite: (table, rows) -> INSERT
        self._json_insert: dict[tuple[str, tuple], str] = {}  # PostgreSQL: (table, columns) -> INSERT
        self._batch: dict[bool, str] = {}

    def _ids(self, n: int) -> str:
        s = self._in.get(n)
        if s is None:
            s = self._in[n] = ", ".join([self.ph] * n)
        return s

    def decisions_by_id(self, n: int) -> str:
        return f"SELECT {', '.join(_D_COLS)} FROM {self.d} WHERE event_id IN ({self._ids(n)})"

    def reward_state(self, n: int) -> str:
        """Per known event of ``n``: the reward value and is_default stored for it (joined or
        in the inbox), whether there is one, and the chosen item (a ranker's read-back)."""
        return (f"SELECT d.event_id, COALESCE(r.value, i.value), COALESCE(r.is_default, i.is_default), "
                f"(r.seq IS NOT NULL OR i.id IS NOT NULL), d.chosen FROM {self.d} d "
                f"LEFT JOIN {self.r} r ON r.event_id = d.event_id LEFT JOIN {self.i} i ON i.event_id = d.event_id "
                f"WHERE d.event_id IN ({self._ids(n)})")

    def join(self, n: int, item_features: bool = False) -> str:
        if self.ph == "?":  # SQLite: every row in ONE step (see the note below); doubles as 17 digits: exact
            extra = ", d.candidates, hex(d.features), d.features_dim" if item_features else ""
            return (f"SELECT json_group_array(json_array(d.event_id, hex(d.context), d.chosen, "
                    f"printf('%!.17g', d.propensity), CASE WHEN r.seq IS NULL THEN NULL "
                    f"ELSE printf('%!.17g', r.value) END, r.seq, r.is_default{extra})) "
                    f"FROM {self.d} d LEFT JOIN {self.r} r ON r.event_id = d.event_id "
                    f"WHERE d.event_id IN ({self._ids(n)})")
        extra = ", d.candidates, d.features, d.features_dim" if item_features else ""
        # LATERAL ... OFFSET 0: one index probe per event; a young rewards table has no
        # statistics, and the planner hashed all of it for every batch
        return (f"SELECT d.event_id, d.context, d.chosen, d.propensity, r.value, r.seq, r.is_default{extra} "
                f"FROM {self.d} d LEFT JOIN LATERAL (SELECT value, seq, is_default FROM {self.r} r "
                f"WHERE r.event_id = d.event_id OFFSET 0) r ON true WHERE d.event_id IN ({self._ids(n)})")

    def join_rows(self, cur: Any) -> list["_JoinRow"]:
        """The rows of :meth:`join`'s query, just executed on ``cur``."""
        if self.ph != "?":
            return [_JoinRow(*row) for row in cur.fetchall()]
        rows = []
        for e, c, ch, p, v, seq, d, *extra in orjson.loads(cur.fetchone()[0]):
            if extra:  # candidates (JSON text), features (hex), features_dim
                extra = [extra[0], bytes.fromhex(extra[1]) if extra[1] else None, extra[2]]
            rows.append(_JoinRow(e, bytes.fromhex(c), ch, float(p), None if v is None else float(v), seq, d, *extra))
        return rows

    def insert(self, cur: Any, table: Table, cols: Sequence[str], rows: list[tuple]) -> None:
        """Insert ``rows`` (values in ``cols`` order) into ``table`` in as few statements as
        the backend allows. SQLite: multi-row INSERTs (psycopg's and sqlite3's executemany
        send and step each row on its own, in Python: several times the CPU). PostgreSQL:
        ONE statement whatever the count, the rows as one JSON parameter (:meth:`from_json`);
        a multi-row INSERT there has a new text per row count and, past 50 parameters,
        psycopg parses its placeholders with a regex on every execution (0.3-0.6 ms of
        the writer thread's CPU per batch, holding the GIL)."""
        if not rows:
            return
        if self.ph == "%s":
            sql = self._json_insert.get((table.name, tuple(cols)))
            if sql is None:
                sql = self._json_insert[table.name, tuple(cols)] = (
                    f"INSERT INTO {self.prefix}{table.name} ({', '.join(cols)}) SELECT {self.from_json(table, cols)}")
            cur.execute(sql, (json_rows(table, cols, rows),))
            return
        for at in range(0, len(rows), _ROWS_PER_INSERT):
            part = rows[at:at + _ROWS_PER_INSERT]
            key = (table.name, len(part))
            sql = self._multi.get(key)
            if sql is None:
                one = "(" + ", ".join([self.ph] * len(cols)) + ")"
                sql = self._multi[key] = (f"INSERT INTO {self.prefix}{table.name} ({', '.join(cols)}) "
                                          f"VALUES {', '.join([one] * len(part))}")
            cur.execute(sql, [v for row in part for v in row])

    @staticmethod
    def from_json(table: Table, cols: Sequence[str]) -> str:
        """``cols`` of ``table`` read from a JSON array of rows (PostgreSQL): the select
        list and FROM clause for the parameter :func:`json_rows` makes."""
        casts = []
        for j, name in enumerate(cols):
            kind = type(table.c[name].type)
            text = f"r->>{j}"
            casts.append(f"decode({text}, 'hex')" if issubclass(kind, LargeBinary) else
                         f"({text})::{_PG_CAST[kind]}" if kind in _PG_CAST else text)
        return f"{', '.join(casts)} FROM jsonb_array_elements(%s::jsonb) r"

    @functools.cached_property
    def ranker_batch(self) -> str:
        """A ranker's whole batch as ONE statement (PostgreSQL), run in autocommit: one
        round trip and one implicit transaction instead of BEGIN, two INSERTs and COMMIT;
        and one text for every batch size, which psycopg prepares once, so PostgreSQL
        plans it once rather than per batch.

        Parameters: the time, then the decision rows and the reward rows each as ONE JSON
        array of arrays (:func:`ranker_params`; orjson writes it in C, where psycopg's
        array parameters cost more CPU than the rest of the batch). Decisions go in
        unless their event is stored; rewards go into the inbox, the first of each event
        in input order, only where the decision is known (stored before, or by this
        statement: its CTE, as the statement sees one snapshot), the item is the chosen
        one and no reward is joined yet. Returns what went in: ``(True, event_id, ...)``
        per decision, ``(False, event_id, value, is_default, chosen)`` per reward."""
        # one index probe per reward (LATERAL; a subquery with OFFSET 0 is not turned into
        # a join), whatever a young table's statistics say: a hash join would read all of it
        return (f"WITH nd AS (INSERT INTO {self.d} ({', '.join(_D_COLS)}) "
                f"SELECT {self.from_json(decisions, _D_COLS)} "
                f"ON CONFLICT (event_id) DO NOTHING RETURNING event_id, chosen), "
                f"nr AS (INSERT INTO {self.i} (event_id, value, item_id, ts, is_default, copied) "
                f"SELECT v.e, v.v, k.chosen, %s::float8, v.dflt, false "
                f"FROM (SELECT r->>0 AS e, (r->>1)::float8 AS v, (r->>2)::boolean AS dflt, r->>3 AS item, o "
                f"FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS x(r, o)) v "
                f"JOIN LATERAL (SELECT chosen FROM {self.d} d WHERE d.event_id = v.e "
                f"UNION ALL SELECT chosen FROM nd WHERE nd.event_id = v.e LIMIT 1) k ON true "
                f"WHERE (v.item IS NULL OR v.item = k.chosen) "
                f"AND NOT EXISTS (SELECT 1 FROM {self.r} r WHERE r.event_id = v.e OFFSET 0) ORDER BY v.o "
                f"ON CONFLICT (event_id) DO NOTHING RETURNING event_id, value, is_default, item_id) "
                f"SELECT true, event_id, NULL::float8, NULL::boolean, NULL::text FROM nd "
                f"UNION ALL SELECT false, event_id, value, is_default, item_id FROM nr")

    def batch(self, item_features: bool) -> str:
        """A single process's whole batch as ONE statement (PostgreSQL), in autocommit: the
        fence, the decisions, the reward join and the numbered rewards, one round trip
        instead of seven (BEGIN, fence, lookup, INSERT, join, INSERT, COMMIT), each of
        which took the GIL back on the writer thread.

        Parameters: lease seconds and token (the fence, :attr:`renew`: nothing is written
        unless it holds), the decision rows (JSON, :func:`json_rows`), the reward rows
        (JSON ``[event_id, value, is_default, item_id]``), the last ``seq`` and the time.
        Fresh rewards (decision known, stored before or by this statement; the chosen
        item; none joined yet; the first of each event in input order) are numbered after
        the last ``seq`` in input order. Returns ``(0, ...)`` when the fence held,
        ``(1, event_id, ...)`` per decision stored, and per reward in input order ``(2,
        event_id, o, chosen, context, propensity, old seq, old value, old is_default, new
        seq, value, is_default, item, candidates, features, features_dim)``."""
        sql = self._batch.get(item_features)
        if sql is None:
            sql = self._batch[item_features] = self._batch_sql(item_features)
        return sql

    def _batch_sql(self, item_features: bool) -> str:
        dcols = "context, chosen, propensity" + (", candidates, features, features_dim" if item_features else "")
        pick = ", ".join(f"dd.{c.strip()}" for c in dcols.split(","))
        none = ", NULL::text, NULL::bytea, NULL::int4" if item_features else ""
        extra = ", k.candidates, k.features, k.features_dim" if item_features else ""
        return (f"WITH f AS ({self.renew} RETURNING 1), "
                f"nd AS (INSERT INTO {self.d} ({', '.join(_D_COLS)}) SELECT {self.from_json(decisions, _D_COLS)} "
                f"WHERE EXISTS (SELECT 1 FROM f) ON CONFLICT (event_id) DO NOTHING RETURNING event_id, {dcols}), "
                f"v AS (SELECT r->>0 AS e, (r->>1)::float8 AS v, (r->>2)::boolean AS dflt, r->>3 AS item, o "
                f"FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS x(r, o)), "
                # one index probe per reward (LATERAL ... OFFSET 0), as in ranker_batch
                f"k AS (SELECT v.*, {pick}, old.seq AS oseq, old.value AS ovalue, old.is_default AS odflt FROM v "
                f"LEFT JOIN LATERAL (SELECT {dcols} FROM {self.d} d WHERE d.event_id = v.e "
                f"UNION ALL SELECT {dcols} FROM nd WHERE nd.event_id = v.e LIMIT 1) dd ON true "
                f"LEFT JOIN LATERAL (SELECT seq, value, is_default FROM {self.r} r WHERE r.event_id = v.e OFFSET 0) "
                f"old ON true), "
                f"n AS (SELECT o, %s::bigint + row_number() OVER (ORDER BY o) AS seq FROM ("
                f"SELECT DISTINCT ON (e) e, o FROM k WHERE chosen IS NOT NULL AND (item IS NULL OR item = chosen) "
                f"AND oseq IS NULL ORDER BY e, o) fresh), "
                f"ins AS (INSERT INTO {self.r} ({', '.join(REWARD_COLS)}) SELECT n.seq, k.e, k.v, k.chosen, "
                f"%s::float8, k.dflt FROM n JOIN k ON k.o = n.o WHERE EXISTS (SELECT 1 FROM f)) "
                f"SELECT 0, NULL::text, NULL::int8, NULL::text, NULL::bytea, NULL::float8, NULL::int4, NULL::float8, "
                f"NULL::boolean, NULL::int8, NULL::float8, NULL::boolean, NULL::text{none} FROM f "
                f"UNION ALL SELECT 1, event_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
                f"{', NULL, NULL, NULL' if item_features else ''} FROM nd "
                f"UNION ALL SELECT 2, k.e, k.o, k.chosen, k.context, k.propensity, k.oseq, k.ovalue, k.odflt, n.seq, "
                f"k.v, k.dflt, k.item{extra} FROM k LEFT JOIN n ON n.o = k.o")

    def take(self, item_features: bool) -> str:
        """The learner's move of inbox rows into ``rewards`` (PostgreSQL); parameters: how
        many at most, and the last ``seq`` (they are numbered after it in inbox order).
        Events joined already (by a single-process service before) are skipped; returns
        them as join rows (:class:`_JoinRow`) in ``seq`` order."""
        extra = ", d.candidates, d.features, d.features_dim" if item_features else ""
        # = ANY(ARRAY(...)) and LATERAL ... OFFSET 0: index probes per row taken, whatever
        # the statistics say; on a young table without them the planner guessed half the
        # inbox pending and scanned the inbox and the whole decisions table on every take
        return (f"WITH t AS (UPDATE {self.i} SET copied = true WHERE id = ANY(ARRAY("
                f"SELECT id FROM {self.i} WHERE NOT copied ORDER BY id LIMIT %s::bigint)) "
                f"RETURNING id, event_id, value, ts, is_default), "
                f"n AS (SELECT t.event_id, d.context, d.chosen, d.propensity, t.value, "
                f"%s::bigint + row_number() OVER (ORDER BY t.id) AS seq, t.is_default, t.ts{extra} "
                f"FROM t, LATERAL (SELECT * FROM {self.d} d WHERE d.event_id = t.event_id OFFSET 0) d "
                f"WHERE NOT EXISTS (SELECT 1 FROM {self.r} r WHERE r.event_id = t.event_id OFFSET 0)), "
                f"ins AS (INSERT INTO {self.r} (seq, event_id, value, item_id, ts, is_default) "
                f"SELECT seq, event_id, value, chosen, ts, is_default FROM n) "
                f"SELECT event_id, context, chosen, propensity, value, seq, is_default{extra.replace('d.', '')} "
                f"FROM n ORDER BY seq")


# SQLite releases the GIL around every step of a statement, so an executemany of n rows or
# a SELECT of n rows hands the GIL to the request thread n times and waits to get it back
# each time (up to the interpreter's switch interval while requests are being handled):
# a batch's transaction took 2-20 ms that way. One multi-row INSERT and one aggregated
# SELECT row keep it to a handful of steps per batch, whatever its size.
_ROWS_PER_INSERT = 256  # x 11 columns, well under SQLite's 32,766 bound variables

_PG_CAST = {Float: "float8", Integer: "int4", Boolean: "boolean"}  # String, Text: as read


def json_rows(table: Table, cols: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """``rows`` as ONE JSON array of arrays for :meth:`_WriteSQL.from_json`: bytes as hex
    (JSON has none); orjson writes each float exactly (shortest round-trip form) and a
    policy's numpy scalars as numbers."""
    binary = [j for j, name in enumerate(cols) if isinstance(table.c[name].type, LargeBinary)]
    if binary:
        hexed = [list(row) for row in rows]
        for row in hexed:
            for j in binary:
                if row[j] is not None:
                    row[j] = row[j].hex()
        rows = hexed
    return orjson.dumps(rows, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def reward_rows_json(new_rewards: Sequence[Any]) -> str:
    """Rewards (:class:`~recloop.serve.records.RewardIn`) as the JSON parameter of
    :meth:`_WriteSQL.batch` and :attr:`_WriteSQL.ranker_batch`: ``[event_id, value, is_default, item_id]``."""
    return orjson.dumps([(r.event_id, r.value, r.is_default, r.item_id) for r in new_rewards],
                        option=orjson.OPT_SERIALIZE_NUMPY).decode()


def _write_sql(is_sqlite: bool, schema: str | None) -> _WriteSQL:
    return _WriteSQL(is_sqlite, schema)
