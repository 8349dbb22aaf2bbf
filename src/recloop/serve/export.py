"""Logged feedback as Parquet, in the one DESIGN.md schema (what OPE and offline training read).

The columns and metadata are those of :func:`recloop.data.logs.write_parquet`
(``action`` is the index of the chosen item in ``candidates``; ``policy_version``
is the served model version; ``reward`` is null while no reward is joined), so
``recloop.data.logs.read_parquet`` / ``read_logs`` read a served export and a
user's own logs into the same :class:`~recloop.data.logs.LoggedFeedback`.
"""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from recloop.data.logs import events_table
from recloop.serve.records import unpack_context


def parse_since(since: str | None) -> float:
    """Unix seconds or ISO 8601 (naive means UTC) -> unix seconds."""
    if since is None or since == "":
        return 0.0
    try:
        return float(since)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(since)
    except ValueError as err:
        raise ValueError(f"since={since!r} is neither unix seconds nor an ISO 8601 time") from err
    if dt.tzinfo is None:
        from datetime import timezone
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def logs_table(rows: list[Any]) -> pa.Table:
    """Stored decisions -> the one logged-feedback schema, written by :mod:`recloop.data.logs`."""
    return events_table(
        event_id=[r.event_id for r in rows], timestamp_s=[r.ts for r in rows],
        context=[unpack_context(r.context).tolist() for r in rows],
        candidates=[json.loads(r.candidates) for r in rows], chosen=[r.chosen for r in rows],
        propensity=[r.propensity for r in rows], reward=[r.reward for r in rows],
        policy_version=[r.model_version for r in rows])


def to_parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()
