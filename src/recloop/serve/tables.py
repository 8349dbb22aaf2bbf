"""The store's tables (SQLAlchemy Core) and the row shapes of its write path.

What each table holds, and why, is told in :mod:`recloop.serve.store`; the write
path's SQL over them is :mod:`recloop.serve.write_sql`.
"""

from __future__ import annotations

from collections import namedtuple

from sqlalchemy import Boolean, Column, Float, Index, Integer, LargeBinary, MetaData, String, Table, Text

_meta = MetaData()

decisions = Table(
    "recloop_decisions", _meta,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(128), nullable=False, unique=True),
    Column("ts", Float, nullable=False, index=True),
    # the context vector the policy saw, as float64 bytes: printing floats as JSON cost
    # more than the rest of the row together
    Column("context", LargeBinary, nullable=False),
    Column("candidates", Text, nullable=False),       # JSON [id, ...]
    # candidate features as float64 bytes (n_candidates x features_dim; NaN rows: no features).
    # JSON would cost ~0.2 ms per request for 20 x 16 floats, the largest write cost.
    Column("features", LargeBinary, nullable=True),
    Column("features_dim", Integer, nullable=False),
    Column("ranking", Text, nullable=False),          # JSON [[id, score, probability], ...]
    Column("chosen", String(256), nullable=False),
    Column("propensity", Float, nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("request_hash", String(64), nullable=False),
)

rewards = Table(
    "recloop_rewards", _meta,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(128), nullable=False, unique=True),
    Column("value", Float, nullable=False),
    Column("item_id", String(256), nullable=False),
    Column("ts", Float, nullable=False),
    Column("is_default", Boolean, nullable=False),
)

models = Table(
    "recloop_models", _meta,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("path", Text, nullable=False),       # "store" (or the file of a snapshot from before blobs)
    Column("sha256", String(64), nullable=False),
    Column("blob", LargeBinary, nullable=True),  # the saved policy; NULL once pruned
    Column("watermark", Integer, nullable=False),
    Column("parent", Integer, nullable=True),
    Column("note", Text, nullable=False),
    Column("ts", Float, nullable=False),
)

# Scale-out: rankers (many processes, see recloop.serve.inbox) accept rewards here; the
# one learner moves them into ``rewards`` in its own fenced transactions, which gives
# them their ``seq`` in commit order. ``event_id`` is unique: the arbiter of "one
# reward per event" among concurrent rankers.
inbox = Table(
    "recloop_inbox", _meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(128), nullable=False, unique=True),
    Column("value", Float, nullable=False),
    Column("item_id", String(256), nullable=False),
    Column("ts", Float, nullable=False),
    Column("is_default", Boolean, nullable=False),
    Column("copied", Boolean, nullable=False),
)
# what the learner has still to take, in inbox order: only those rows (a plain index on
# ``copied`` holds every row ever received, and was not used on a young table)
Index("ix_recloop_inbox_pending", inbox.c.id, postgresql_where=~inbox.c.copied, sqlite_where=~inbox.c.copied)

# The learner's lease: one row; ``token`` grows with every claim (the fencing token).
lease = Table(
    "recloop_lease", _meta,
    Column("name", String(32), primary_key=True),
    Column("token", Integer, nullable=False),
    Column("holder", Text, nullable=False),
    Column("expires", Float, nullable=False),   # database clock, unix seconds
    Column("renewed", Float, nullable=False),
)

Index("ix_recloop_rewards_ts", rewards.c.ts)


# The write path's SQL, as plain DBAPI text (see Store._writer_conn).
# (the field list is spelled out for the type checker; _D_COLS is derived from it)
_DecisionRow = namedtuple("_DecisionRow", ["event_id", "ts", "context", "candidates", "features", "features_dim",
                                           "ranking", "chosen", "propensity", "model_version", "request_hash"])
_D_COLS = _DecisionRow._fields
_JoinRow = namedtuple("_JoinRow", "event_id context chosen propensity value seq is_default candidates features "
                                  "features_dim", defaults=(None, None, 0))
