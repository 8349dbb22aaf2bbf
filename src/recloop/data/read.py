"""Read a team's own logs - CSV, Parquet, JSON Lines, Vowpal Wabbit dsjson - into the one schema.

``read_logs(path, spec)`` maps a file's columns onto
:class:`~recloop.data.logs.LoggedFeedback` as a :class:`LogSpec` says:

- **context** as flat numeric columns (``context_cols=["f*"]``, globs), one list
  column, or one JSON-object column (``{"user": {"age": 31}, "device": "mobile"}``,
  featurised by :class:`~recloop.data.features.Featuriser` and saved with the logs);
- **action**: the item id shown, of any type (SKU strings, integers);
- **propensity**, **reward** (or **cost**, reward = -cost), **timestamp**,
  **event_id**, **policy_version**, and **candidates** (optional per-event lists).

Bad data stops the read with an error naming the row and the column: a null,
short or non-finite context, a propensity outside (0, 1], an action missing from
its candidates. Nothing is zero-filled. A Parquet file written by recloop (or
exported by the server at ``/v1/logs``) is read as it is, so served logs and a
team's logs come out as the same object.

dsjson (the Decision Service / Azure Personalizer log, one JSON event per line):
the context is ``c`` without ``_multi``; candidates are the ``_multi`` entries,
named by their ``id`` (or ``_tag``) feature, else by their position;
the chosen action is ``_labelIndex`` (0-based, else ``_label_Action`` - 1), its
probability ``_label_probability``, reward ``-_label_cost``.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "logs.csv"
    >>> _ = path.write_text("sku,p,click,f1,f2\\nA-1,0.5,1,0.1,2\\nB-2,0.25,0,0.3,1\\nA-1,0.5,0,0.2,0\\n")
    >>> logs = read_logs(path, LogSpec(action="sku", propensity="p", reward="click", context_cols=["f*"]))
    >>> logs.item_ids.tolist(), logs.action.tolist(), logs.context.shape
    (['A-1', 'B-2'], [0, 1, 0], (3, 2))
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import math
import os
from dataclasses import dataclass
from datetime import timezone
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np

from recloop.data.features import Featuriser
from recloop.data.logs import LoggedFeedback, read_parquet

FORMATS = ("csv", "parquet", "jsonl", "dsjson")


@dataclass(frozen=True)
class LogSpec:
    """Which column is what. Every name is a column of the file; ``None`` means "not in the file"."""

    action: str = "action"
    propensity: str = "propensity"
    reward: str | None = "reward"
    cost: str | None = None  # reward = -cost (VW's convention), instead of ``reward``
    context: str | None = None  # one list column or one JSON-object column
    context_cols: tuple[str, ...] = ()  # flat numeric columns, globs allowed ("f*")
    candidates: str | None = None
    timestamp: str | None = None
    event_id: str | None = None
    policy_version: str | None = None
    format: str = "auto"
    n_features: int = 2**12  # hashing dimension for JSON-object contexts
    interactions: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.context_cols, str):
            object.__setattr__(self, "context_cols", tuple(c.strip() for c in self.context_cols.split(",") if c.strip()))
        else:
            object.__setattr__(self, "context_cols", tuple(self.context_cols))
        if self.context is not None and self.context_cols:
            raise ValueError("give the context as one column (context) or as flat columns (context_cols), not both")
        if self.cost is not None and self.reward not in (None, "reward"):
            raise ValueError("give reward or cost, not both")
        if self.format not in ("auto", *FORMATS):
            raise ValueError(f"format must be one of auto, {', '.join(FORMATS)}; got {self.format!r}")

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> LogSpec:
        """A YAML data spec: the same keys as the fields (``context_cols`` a list or a comma string)."""
        import yaml

        raw = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: a data spec is a mapping of field: column, e.g. {{action: sku}}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"{path}: unknown data spec key(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**raw)

    def featuriser_for(self, width: int | None) -> Featuriser:
        """Dense pass-through for numeric contexts of ``width``; hashing for JSON objects (``None``)."""
        if width is not None:
            return Featuriser.dense(width)
        return Featuriser(n_features=self.n_features, interactions=self.interactions, seed=self.seed)


def read_logs(path: str | os.PathLike, spec: LogSpec | None = None) -> LoggedFeedback:
    """Read logged decisions from ``path`` (format from ``spec.format`` or the file's suffix)."""
    spec = spec or LogSpec()
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no logs at {path}")
    fmt = spec.format if spec.format != "auto" else _guess_format(path)
    if fmt == "parquet":
        if _is_recloop_parquet(path):
            return read_parquet(path)
        import pyarrow.parquet as pq

        return _from_columns(_columns(pq.read_table(path)), spec, path)
    if fmt == "csv":
        import pyarrow.csv as pacsv

        try:
            table = pacsv.read_csv(path)
        except Exception as err:  # pyarrow raises its own ArrowInvalid
            raise ValueError(f"{path}: not a readable CSV file ({err})") from None
        return _from_columns(_columns(table), spec, path)
    rows = _json_lines(path)
    if fmt == "dsjson":
        return _from_columns(_dsjson_columns(rows, path), _dsjson_spec(spec), path)
    cols: dict[str, list] = {}
    for r, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValueError(f"{path}: line {r + 1} is not a JSON object")
        for k in row:
            cols.setdefault(k, [None] * r)
        for k in cols:
            cols[k].append(row.get(k))
    return _from_columns(cols, spec, path)


def _guess_format(path: Path) -> str:
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix.lower() == ".gz" else path.suffix.lower()
    for fmt, endings in (("csv", (".csv", ".tsv")), ("parquet", (".parquet", ".pq")),
                         ("jsonl", (".jsonl", ".ndjson", ".json")), ("dsjson", (".dsjson",))):
        if suffix in endings:
            return fmt
    raise ValueError(f"{path}: cannot tell the format from the suffix {suffix!r}; "
                     f"say which with format: one of {', '.join(FORMATS)}")


def _is_recloop_parquet(path: Path) -> bool:
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(path).metadata or {}
    except Exception as err:
        raise ValueError(f"{path}: not a readable Parquet file ({err})") from None
    return b"recloop.schema" in meta


def _columns(table: Any) -> dict[str, list]:
    return {name: table.column(name).to_pylist() for name in table.column_names}


def _json_lines(path: Path) -> list[Any]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}: line {line_no} is not valid JSON ({err.msg})") from None
    return rows


# ---------------------------------------------------------------------- dsjson
def _dsjson_spec(spec: LogSpec) -> LogSpec:
    return dataclasses.replace(spec, action="action", propensity="propensity", reward="reward", cost=None,
                               context="context", context_cols=(), candidates="candidates",
                               timestamp="timestamp", event_id="event_id", policy_version="policy_version")


def _dsjson_columns(rows: list[Any], path: Path) -> dict[str, list]:
    cols: dict[str, list] = {k: [] for k in ("action", "propensity", "reward", "context", "candidates",
                                              "timestamp", "event_id", "policy_version")}
    for r, ev in enumerate(rows):
        where = f"{path}: line {r + 1}"
        if not isinstance(ev, dict) or "c" not in ev:
            raise ValueError(f"{where}: not a dsjson decision event (no 'c' context)")
        c = ev["c"]
        multi = c.get("_multi") if isinstance(c, dict) else None
        if not multi:
            raise ValueError(f"{where}: the context has no '_multi' list of actions")
        ids = [a.get("id", a.get("_tag", k)) if isinstance(a, dict) else k for k, a in enumerate(multi)]
        if "_labelIndex" in ev:
            chosen = int(ev["_labelIndex"])
        elif "_label_Action" in ev:
            chosen = int(ev["_label_Action"]) - 1
        else:
            raise ValueError(f"{where}: no _labelIndex or _label_Action (which action was shown)")
        if not 0 <= chosen < len(ids):
            raise ValueError(f"{where}: chosen action {chosen} is not among its {len(ids)} actions (unknown action)")
        if "_label_cost" not in ev or "_label_probability" not in ev:
            raise ValueError(f"{where}: no _label_cost / _label_probability")
        cols["action"].append(ids[chosen])
        cols["candidates"].append(ids)
        cols["propensity"].append(ev["_label_probability"])
        cols["reward"].append(None if ev["_label_cost"] is None else -float(ev["_label_cost"]))
        cols["context"].append({k: v for k, v in c.items() if not k.startswith("_")})
        cols["timestamp"].append(ev.get("Timestamp"))
        cols["event_id"].append(ev.get("EventId", r))
        cols["policy_version"].append(str(ev.get("Version", "unknown")))
    return cols


# ---------------------------------------------------------------------- columns -> logs
@overload
def _column(cols: dict[str, list], name: str | None, what: str, path: Path,
            required: Literal[True] = ...) -> list: ...
@overload
def _column(cols: dict[str, list], name: str | None, what: str, path: Path, required: bool) -> list | None: ...


def _column(cols: dict[str, list], name: str | None, what: str, path: Path, required: bool = True) -> list | None:
    if name is None:
        if required:
            raise ValueError(f"{path}: the spec gives no column for {what}")
        return None
    if name not in cols:
        if required or name != what:
            raise ValueError(f"{path}: no column {name!r} for {what}; the file has {sorted(cols)}")
        return None
    return cols[name]


def _numbers(values: list, column: str | None, path: Path) -> np.ndarray:
    out = np.empty(len(values))
    for r, v in enumerate(values):
        if v is None or isinstance(v, bool) or not isinstance(v, (int, float, np.number)):
            kind = "null" if v is None else f"not a number ({v!r})"
            raise ValueError(f"{path}: row {r}, column {column!r}: {kind}")
        if not math.isfinite(v):
            raise ValueError(f"{path}: row {r}, column {column!r}: not finite ({v})")
        out[r] = v
    return out


def _from_columns(cols: dict[str, list], spec: LogSpec, path: Path) -> LoggedFeedback:
    if not cols or not next(iter(cols.values())):
        raise ValueError(f"{path}: the logs are empty (no events)")
    action = _column(cols, spec.action, "action", path)
    for r, a in enumerate(action):
        if a is None or a == "":
            raise ValueError(f"{path}: row {r}, column {spec.action!r}: null action (which item was shown?)")
    propensity = _numbers(_column(cols, spec.propensity, "propensity", path), spec.propensity, path)
    bad = np.flatnonzero(~((propensity > 0) & (propensity <= 1)))
    if bad.size:
        r = int(bad[0])
        raise ValueError(f"{path}: row {r}, column {spec.propensity!r}: propensity {float(propensity[r])} is outside "
                         f"(0, 1] ({bad.size} rows are; a zero propensity means the action could not be chosen)")
    if spec.cost is not None:
        reward = -_numbers(_column(cols, spec.cost, "cost", path), spec.cost, path)
    else:
        reward = _numbers(_column(cols, spec.reward, "reward", path), spec.reward, path)
    context, feat = _context(cols, spec, path)
    extra: dict[str, Any] = {}
    cand_col = _column(cols, spec.candidates, "candidates", path, required=False)
    if cand_col is not None:
        extra.update(_candidates(cand_col, action, spec.candidates, path))
    else:
        ids, index = _catalogue(action)
        extra.update(action=index, item_ids=ids)
    ts = _column(cols, spec.timestamp, "timestamp", path, required=False)
    if ts is not None:
        extra["timestamp"] = _timestamps(ts, spec.timestamp, path)
    eid = _column(cols, spec.event_id, "event_id", path, required=False)
    if eid is not None:
        extra["event_id"] = np.asarray([str(e) for e in eid])
    ver = _column(cols, spec.policy_version, "policy_version", path, required=False)
    if ver is not None:
        extra["policy_version"] = np.asarray([str(v) for v in ver])
    return LoggedFeedback.from_arrays(reward=reward, propensity=propensity, context=context,
                                      featuriser=feat.to_dict(), **extra)


def _catalogue(action: list) -> tuple[np.ndarray, np.ndarray]:
    """Item ids (sorted when they compare, else in order of appearance) and each event's index."""
    try:
        ids = sorted(set(action))
    except TypeError:
        ids = list(dict.fromkeys(action))
    index = {item: k for k, item in enumerate(ids)}
    if len({type(i) for i in ids}) == 1:
        arr = np.asarray(ids)
    else:
        arr = np.empty(len(ids), dtype=object)
        arr[:] = ids
    return arr, np.fromiter((index[a] for a in action), np.int64, len(action))


def _candidates(col: list, action: list, name: str | None, path: Path) -> dict[str, Any]:
    lists = []
    for r, c in enumerate(col):
        if isinstance(c, str):
            try:
                c = json.loads(c)
            except json.JSONDecodeError:
                raise ValueError(f"{path}: row {r}, column {name!r}: not a JSON list of item ids") from None
        if not isinstance(c, (list, tuple)) or not c:
            raise ValueError(f"{path}: row {r}, column {name!r}: candidates must be a non-empty list of item ids")
        lists.append(list(c))
    width = max(len(c) for c in lists)
    is_str = any(isinstance(i, str) for c in lists for i in c)
    cands = np.full((len(lists), width), "" if is_str else 0, dtype=object)
    mask = np.zeros((len(lists), width), bool)
    index = np.empty(len(lists), np.int64)
    for r, (c, a) in enumerate(zip(lists, action)):
        try:
            index[r] = c.index(a)
        except ValueError:
            raise ValueError(f"{path}: row {r}: action {a!r} is not among its candidates in column {name!r} "
                             "(unknown action)") from None
        cands[r, :len(c)] = c
        mask[r, :len(c)] = True
    return {"action": index, "candidates": cands.astype(str) if is_str else cands.astype(np.int64),
            "candidate_mask": mask}


def _context(cols: dict[str, list], spec: LogSpec, path: Path) -> tuple[np.ndarray, Featuriser]:
    n = len(next(iter(cols.values())))
    if spec.context_cols:
        names = [c for c in cols if any(fnmatch.fnmatchcase(c, pat) for pat in spec.context_cols)]
        if not names:
            raise ValueError(f"{path}: no column matches context_cols {list(spec.context_cols)}; "
                             f"the file has {sorted(cols)}")
        X = np.column_stack([_numbers(cols[c], c, path) for c in names])
        return X, spec.featuriser_for(X.shape[1])
    if spec.context is None:
        if "context" not in cols:
            return np.zeros((n, 0)), spec.featuriser_for(0)
        spec = dataclasses.replace(spec, context="context")
    raw = _column(cols, spec.context, "context", path)
    values = []
    for r, v in enumerate(raw):
        if isinstance(v, str):
            try:
                v = json.loads(v)
            except json.JSONDecodeError:
                raise ValueError(f"{path}: row {r}, column {spec.context!r}: not JSON ({v[:40]!r})") from None
        if v is None:
            raise ValueError(f"{path}: row {r}, column {spec.context!r}: null context")
        values.append(v)
    if all(isinstance(v, dict) for v in values):
        f = spec.featuriser_for(None)
    elif all(isinstance(v, (list, tuple)) for v in values):
        f = spec.featuriser_for(len(values[0]))
    else:
        r = next(r for r, v in enumerate(values) if not isinstance(v, type(values[0])))
        raise ValueError(f"{path}: row {r}, column {spec.context!r}: a {type(values[r]).__name__} among "
                         f"{type(values[0]).__name__} contexts (all rows must be lists, or all JSON objects)")
    X = np.empty((n, f.n_features))
    for r, v in enumerate(values):
        try:
            X[r] = f.context(v)
        except ValueError as err:
            raise ValueError(f"{path}: row {r}, column {spec.context!r}: {err}") from None
    return X, f


def _timestamps(values: list, name: str | None, path: Path) -> np.ndarray:
    out = np.empty(len(values), dtype="datetime64[us]")
    for r, v in enumerate(values):
        try:
            if v is None:
                raise ValueError("null")
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out[r] = np.datetime64(int(round(v * 1e6)), "us")
            elif hasattr(v, "timestamp"):  # a datetime (pyarrow's CSV reader parses ISO times); naive = UTC
                v = v if v.tzinfo is not None else v.replace(tzinfo=timezone.utc)
                out[r] = np.datetime64(int(round(v.timestamp() * 1e6)), "us")
            else:
                out[r] = np.datetime64(str(v).replace("Z", "").split("+")[0], "us")
        except ValueError as err:
            raise ValueError(f"{path}: row {r}, column {name!r}: not a time ({v!r}: {err})") from None
    return out
