"""Logged feedback as Parquet, in the DESIGN.md schema (what OPE and offline training read).

Columns: ``event_id``, ``timestamp`` (UTC, microseconds), ``context`` (list of
float64), ``candidates`` (list of item ids), ``action`` (chosen item id),
``propensity`` (probability of the action), ``position`` (0: the chosen slot),
``reward`` (null while no reward is joined), ``model_version``.
"""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from recloop.serve.records import unpack_context

LOG_SCHEMA = pa.schema([
    ("event_id", pa.string()),
    ("timestamp", pa.timestamp("us", tz="UTC")),
    ("context", pa.list_(pa.float64())),
    ("candidates", pa.list_(pa.string())),
    ("action", pa.string()),
    ("propensity", pa.float64()),
    ("position", pa.int32()),
    ("reward", pa.float64()),
    ("model_version", pa.string()),
])


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
    cols: dict[str, list] = {name: [] for name in LOG_SCHEMA.names}
    for r in rows:
        cols["event_id"].append(r.event_id)
        cols["timestamp"].append(int(round(r.ts * 1e6)))
        cols["context"].append(unpack_context(r.context).tolist())
        cols["candidates"].append(json.loads(r.candidates))
        cols["action"].append(r.chosen)
        cols["propensity"].append(r.propensity)
        cols["position"].append(0)
        cols["reward"].append(r.reward)
        cols["model_version"].append(r.model_version)
    arrays = [pa.array(cols[f.name], type=f.type if f.name != "timestamp" else pa.int64()) for f in LOG_SCHEMA]
    arrays[1] = arrays[1].cast(LOG_SCHEMA.field("timestamp").type)
    return pa.Table.from_arrays(arrays, schema=LOG_SCHEMA)


def to_parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()
