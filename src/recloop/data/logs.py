"""The logged-feedback schema: what the server writes, what OPE and offline training read.

One event is one decision: a context, the candidates the policy could choose
from, what it chose (one item, or a slate of items), how likely that choice
was (the propensity), the position it was shown at, the reward, and which
policy/model version decided. In memory it is a frozen record of numpy arrays
(:class:`LoggedFeedback`); on disk it is a Parquet file with one row per event.

Actions are *dense indices*. With a fixed catalogue (a bandit's arms) the
index is the arm and ``candidates`` is ``None``. With candidate sets that vary
per event, ``candidates`` is an ``(n, K)`` array of item ids padded to the
widest set, ``candidate_mask`` marks the real entries, and ``action`` indexes
into the event's own row. A slate log has ``action`` of shape ``(n, L)``
(``L`` positions), a per-position ``position_propensity`` and optionally
per-position rewards.

Simulators that know the truth may add ``expected_rewards`` (``(n, K)``, the
mean reward of every action in that context), so an estimate can be checked
exactly. The server leaves it out.

Example:
    >>> import numpy as np
    >>> logs = LoggedFeedback.from_arrays(
    ...     action=[0, 1, 1], reward=[1.0, 0.0, 1.0], propensity=[0.5, 0.5, 0.5], n_actions=2)
    >>> logs.n, logs.n_actions, logs.is_slate
    (3, 2, False)
"""

from __future__ import annotations

import dataclasses
import json
import warnings
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class LoggedFeedback:
    """Logged decisions with propensities (see the module docstring for the layout)."""

    event_id: np.ndarray  # (n,) int64 or str
    timestamp: np.ndarray  # (n,) datetime64[us]
    context: np.ndarray  # (n, d) float64; d may be 0
    action: np.ndarray  # (n,) or (n, L) int64 dense action indices
    propensity: np.ndarray  # (n,) probability of the logged action / slate under the logging policy
    reward: np.ndarray  # (n,) float64 (total slate reward for slates)
    position: np.ndarray  # (n,) int64: where the (first) item was shown, 0 = top
    policy_version: np.ndarray  # (n,) str
    n_actions: int
    candidates: np.ndarray | None = None  # (n, K) item ids, padded
    candidate_mask: np.ndarray | None = None  # (n, K) bool, True = real candidate
    position_propensity: np.ndarray | None = None  # (n, L) per-position marginal propensities (slates)
    position_reward: np.ndarray | None = None  # (n, L) per-position rewards (slates)
    expected_rewards: np.ndarray | None = None  # (n, K) or (n, L, K) ground truth (simulators only)
    item_ids: np.ndarray | None = None  # (K,) item id of each action index (fixed catalogue read by item id)
    featuriser: dict | None = None  # Featuriser.to_dict() that turned the raw contexts into ``context``

    def __post_init__(self) -> None:
        validate(self)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arrays(
        cls,
        *,
        action: Any,
        reward: Any,
        propensity: Any,
        n_actions: int | None = None,
        context: Any = None,
        event_id: Any = None,
        timestamp: Any = None,
        position: Any = None,
        policy_version: Any = "unknown",
        candidates: Any = None,
        candidate_mask: Any = None,
        position_propensity: Any = None,
        position_reward: Any = None,
        expected_rewards: Any = None,
        item_ids: Any = None,
        featuriser: dict | None = None,
    ) -> "LoggedFeedback":
        """Build logs from array-likes, filling the bookkeeping columns with defaults.

        ``n_actions`` defaults to the candidate width, the width of
        ``expected_rewards``, or ``max(action) + 1``.
        """
        act = np.asarray(action)
        if act.dtype.kind not in "iu" and not (act.dtype.kind == "f" and np.all(act == np.round(act))):
            raise TypeError(f"action must hold integer action indices, got dtype {act.dtype}")
        act = act.astype(np.int64)
        n = len(act) if act.ndim else 0
        if n_actions is None:
            if candidates is not None:
                n_actions = np.asarray(candidates).shape[-1]
            elif item_ids is not None:
                n_actions = len(item_ids)
            elif expected_rewards is not None:
                n_actions = np.asarray(expected_rewards).shape[-1]
            else:
                n_actions = int(act.max()) + 1 if act.size else 0
        ctx = np.zeros((n, 0)) if context is None else np.asarray(context, dtype=np.float64)
        if ctx.ndim == 1:
            ctx = ctx[:, None]
        if timestamp is None:
            ts = np.full(n, np.datetime64(0, "us"))
        else:
            ts = np.asarray(timestamp)
            if ts.dtype.kind != "M":  # numbers are seconds since the epoch
                ts = (np.asarray(ts, dtype=np.float64) * 1e6).astype(np.int64).astype("datetime64[us]")
            ts = ts.astype("datetime64[us]")
        ver = np.asarray(policy_version, dtype=str)
        if ver.ndim == 0:
            ver = np.full(n, str(ver))
        mask = candidate_mask
        if candidates is not None and mask is None:
            mask = np.ones(np.asarray(candidates).shape, dtype=bool)
        return cls(
            event_id=np.arange(n, dtype=np.int64) if event_id is None else np.asarray(event_id),
            timestamp=ts,
            context=ctx,
            action=act,
            propensity=np.asarray(propensity, dtype=np.float64),
            reward=np.asarray(reward, dtype=np.float64),
            position=np.zeros(n, dtype=np.int64) if position is None else np.asarray(position).astype(np.int64),
            policy_version=ver,
            n_actions=int(n_actions),
            candidates=None if candidates is None else np.asarray(candidates),
            candidate_mask=None if mask is None else np.asarray(mask, dtype=bool),
            position_propensity=None if position_propensity is None else np.asarray(position_propensity, dtype=np.float64),
            position_reward=None if position_reward is None else np.asarray(position_reward, dtype=np.float64),
            expected_rewards=None if expected_rewards is None else np.asarray(expected_rewards, dtype=np.float64),
            item_ids=None if item_ids is None else np.asarray(item_ids),
            featuriser=None if featuriser is None else dict(featuriser),
        )

    # ------------------------------------------------------------------ views
    @property
    def n(self) -> int:
        return len(self.reward)

    @property
    def is_slate(self) -> bool:
        return self.action.ndim == 2

    @property
    def slate_size(self) -> int:
        return self.action.shape[1] if self.is_slate else 1

    def __len__(self) -> int:
        return self.n

    def chosen_items(self) -> np.ndarray:
        """Item ids of the logged actions (the action indices when the catalogue has no ids)."""
        if self.candidates is None:
            return self.action if self.item_ids is None else self.item_ids[self.action]
        rows = np.arange(self.n)[:, None] if self.is_slate else np.arange(self.n)
        return self.candidates[rows, self.action]

    def take(self, index: Any) -> "LoggedFeedback":
        """The events selected by ``index`` (a mask, slice or integer array), as new logs."""
        fields = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            per_event = isinstance(value, np.ndarray) and f.name != "item_ids"  # the catalogue is shared
            fields[f.name] = value[index] if per_event else value
        return LoggedFeedback(**fields)

    def to_parquet(self, path: str | os.PathLike) -> Path:
        return write_parquet(self, path)

    @classmethod
    def from_parquet(cls, path: str | os.PathLike) -> "LoggedFeedback":
        return read_parquet(path)


# ---------------------------------------------------------------------- validation
def _fail(msg: str) -> None:
    raise ValueError(f"invalid logged feedback: {msg}")


def validate(logs: LoggedFeedback) -> None:
    """Raise ``ValueError`` naming the first problem found in ``logs``."""
    n = len(logs.reward) if np.ndim(logs.reward) else -1
    if n <= 0:
        _fail("the logs are empty (no events)" if n == 0 else "reward must be a 1-d array")
    for name in ("event_id", "timestamp", "propensity", "reward", "position", "policy_version"):
        arr = getattr(logs, name)
        if arr.ndim != 1 or len(arr) != n:
            _fail(f"{name} has shape {arr.shape}; expected ({n},) like reward")
    if logs.action.ndim not in (1, 2) or len(logs.action) != n:
        _fail(f"action has shape {logs.action.shape}; expected ({n},) or ({n}, slate_size)")
    if logs.context.ndim != 2 or len(logs.context) != n:
        _fail(f"context has shape {logs.context.shape}; expected ({n}, n_features)")
    if logs.n_actions < 1:
        _fail(f"n_actions must be at least 1, got {logs.n_actions}")
    p = logs.propensity
    if np.isnan(p).any():
        _fail(f"propensity is missing (NaN) for {int(np.isnan(p).sum())} events, e.g. event {_first(logs, np.isnan(p))}")
    bad = ~((p > 0) & (p <= 1))
    if bad.any():
        _fail(f"propensity must lie in (0, 1]; {int(bad.sum())} events do not, e.g. event {_first(logs, bad)} "
              f"has {p[bad][0]!r} (a zero propensity means the logged action could not have been chosen)")
    if not np.isfinite(logs.reward).all():
        _fail(f"reward contains NaN or infinite values (event {_first(logs, ~np.isfinite(logs.reward))})")
    if not np.isfinite(logs.context).all():
        _fail("context contains NaN or infinite values")
    a = logs.action
    out = (a < 0) | (a >= logs.n_actions)
    if out.any():
        row = out if a.ndim == 1 else cast(np.ndarray, out.any(axis=1))  # the stub allows a scalar; axis=1 gives rows
        _fail(f"action index out of range 0..{logs.n_actions - 1} at event {_first(logs, row)} (unknown action)")
    if (logs.candidates is None) != (logs.candidate_mask is None):
        _fail("candidates and candidate_mask go together")
    if logs.candidates is not None:
        assert logs.candidate_mask is not None  # checked just above: they go together
        shape = (n, logs.n_actions)
        if logs.candidates.shape != shape or logs.candidate_mask.shape != shape:
            _fail(f"candidates {logs.candidates.shape} and candidate_mask {logs.candidate_mask.shape} must be {shape}")
        rows = np.arange(n)[:, None] if a.ndim == 2 else np.arange(n)
        hit = logs.candidate_mask[rows, a]
        if not hit.all():
            row = ~hit if a.ndim == 1 else ~hit.all(axis=1)
            _fail(f"event {_first(logs, row)} logs an action that is not among its candidates (unknown action)")
    if a.ndim == 2:
        L = a.shape[1]
        for name in ("position_propensity", "position_reward"):
            arr = getattr(logs, name)
            if arr is not None and arr.shape != (n, L):
                _fail(f"{name} has shape {arr.shape}; expected ({n}, {L}) like the slate action")
        pp = logs.position_propensity
        if pp is not None and not ((pp > 0) & (pp <= 1)).all():
            _fail("position_propensity must lie in (0, 1] (no zero or missing per-position propensities)")
        if logs.position_reward is not None and not np.isfinite(logs.position_reward).all():
            _fail("position_reward contains NaN or infinite values")
    elif logs.position_propensity is not None or logs.position_reward is not None:
        _fail("position_propensity / position_reward are for slate logs (action of shape (n, L))")
    if logs.item_ids is not None:
        if logs.candidates is not None:
            _fail("item_ids names a fixed catalogue; logs with per-event candidates carry ids in candidates")
        if logs.item_ids.shape != (logs.n_actions,):
            _fail(f"item_ids has shape {logs.item_ids.shape}; expected ({logs.n_actions},), one id per action")
        if len(set(logs.item_ids.tolist())) != logs.n_actions:
            _fail("item_ids repeats an id: each action index needs its own item")
    er = logs.expected_rewards
    if er is not None:
        want = (n, a.shape[1], logs.n_actions) if a.ndim == 2 else (n, logs.n_actions)
        if er.shape != want:
            _fail(f"expected_rewards has shape {er.shape}; expected {want}")


def _first(logs: LoggedFeedback, mask: np.ndarray) -> Any:
    i = int(np.flatnonzero(mask)[0])
    return logs.event_id[i] if len(logs.event_id) == len(mask) else i


# ---------------------------------------------------------------------- Parquet
_LIST_COLUMNS = ("context", "candidates", "candidate_mask", "position_propensity", "position_reward")


def write_parquet(logs: LoggedFeedback, path: str | os.PathLike) -> Path:
    """Write one row per event; 2-d arrays become list columns. Returns the path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    cols: dict[str, Any] = {
        "event_id": pa.array(logs.event_id),
        "timestamp": pa.array(logs.timestamp.astype("datetime64[us]"), type=pa.timestamp("us", tz="UTC")),
        "policy_version": pa.array(logs.policy_version.astype(str)),
        "action": _list_array(logs.action) if logs.is_slate else pa.array(logs.action),
        "propensity": pa.array(logs.propensity),
        "position": pa.array(logs.position),
        "reward": pa.array(logs.reward),
    }
    for name in _LIST_COLUMNS:
        value = getattr(logs, name)
        if value is not None:
            cols[name] = _list_array(value)
    if logs.expected_rewards is not None:
        cols["expected_rewards"] = _list_array(logs.expected_rewards.reshape(logs.n, -1))
    meta = {"recloop.schema": json.dumps({
        "version": SCHEMA_VERSION, "n_actions": logs.n_actions,
        "expected_rewards_shape": None if logs.expected_rewards is None else list(logs.expected_rewards.shape[1:]),
        "item_ids": None if logs.item_ids is None else logs.item_ids.tolist(),
        "featuriser": logs.featuriser,
    })}
    table = pa.table(cols).replace_schema_metadata(meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def events_table(*, event_id: list, timestamp_s: list, context: list, candidates: list, chosen: list,
                 propensity: list, reward: list, policy_version: list, position: list | None = None) -> Any:
    """Decisions as they are served (ragged candidate lists of item ids, the chosen id,
    rewards that may still be ``None``) -> a table in the one logged-feedback schema.

    The server's ``/v1/logs`` writes through this, so its Parquet has the same columns,
    names and metadata as :func:`write_parquet` and reads back with :func:`read_parquet`
    (events whose reward has not arrived are left out there, with a warning).
    """
    import pyarrow as pa

    n = len(event_id)
    action = np.empty(n, dtype=np.int64)
    for i, (item, cands) in enumerate(zip(chosen, candidates)):
        try:
            action[i] = list(cands).index(item)
        except ValueError:
            raise ValueError(f"event {event_id[i]!r}: chosen item {item!r} is not among its candidates") from None
    width = max((len(c) for c in candidates), default=0)
    cols = {
        "event_id": pa.array([str(e) for e in event_id], pa.string()),
        "timestamp": pa.array([int(round(t * 1e6)) for t in timestamp_s], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        "policy_version": pa.array([str(v) for v in policy_version], pa.string()),
        "action": pa.array(action),
        "propensity": pa.array(propensity, pa.float64()),
        "position": pa.array(np.zeros(n, np.int64) if position is None else position, pa.int64()),
        "reward": pa.array(reward, pa.float64()),
        "context": pa.array([list(map(float, c)) for c in context], pa.large_list(pa.float64())),
        "candidates": pa.array([[str(i) for i in c] for c in candidates], pa.large_list(pa.string())),
    }
    meta = {"recloop.schema": json.dumps({"version": SCHEMA_VERSION, "n_actions": max(width, 1)})}
    return pa.table(cols).replace_schema_metadata(meta)


def _list_array(arr: np.ndarray) -> Any:
    import pyarrow as pa

    flat = pa.array(np.ascontiguousarray(arr).reshape(-1))
    offsets = np.arange(arr.shape[0] + 1, dtype=np.int64) * arr.shape[1]
    return pa.LargeListArray.from_arrays(pa.array(offsets), flat)


def read_parquet(path: str | os.PathLike) -> LoggedFeedback:
    """Read logs written by :func:`write_parquet` (or by the server in the same schema).

    Files without recloop metadata are accepted: ``n_actions`` is then the
    candidate width or ``max(action) + 1``. Ragged ``candidates`` lists are
    padded and masked.
    """
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no logs at {path}")
    table = pq.read_table(path)
    names = set(table.column_names)
    missing = {"action", "propensity", "reward"} - names
    if missing:
        raise ValueError(f"{path}: not a logged-feedback file, missing column(s) {sorted(missing)}")
    raw = (table.schema.metadata or {}).get(b"recloop.schema")
    meta = json.loads(raw) if raw else {}
    unjoined = table.column("reward").null_count
    if unjoined:  # the server exports decisions whose reward has not arrived yet
        import pyarrow.compute as pc

        warnings.warn(f"{path}: left out {unjoined} events that have no reward yet", stacklevel=2)
        table = table.filter(pc.is_valid(table.column("reward")))
    cols = {name: table.column(name).to_pylist() for name in names}

    def dense(name: str, dtype: Any = np.float64) -> np.ndarray | None:
        if name not in cols:
            return None
        return _pad(cols[name], dtype)[0]

    action = np.asarray(cols["action"]) if table.schema.field("action").type.num_fields == 0 else dense("action", np.int64)
    candidates, mask = (None, None)
    if "candidates" in cols:
        candidates, mask = _pad(cols["candidates"], None)
        if "candidate_mask" in cols:
            mask = dense("candidate_mask", bool) & mask
    n = len(cols["reward"])
    er = dense("expected_rewards")
    if er is not None and meta.get("expected_rewards_shape"):
        er = er.reshape(n, *meta["expected_rewards_shape"])
    ts = np.asarray(table.column("timestamp").to_numpy(), dtype="datetime64[us]") if "timestamp" in names else None
    ctx = dense("context") if "context" in cols else None
    return LoggedFeedback.from_arrays(
        action=action, reward=cols["reward"],
        propensity=[np.nan if p is None else p for p in cols["propensity"]],
        n_actions=meta.get("n_actions"), context=None if ctx is None else ctx.reshape(n, -1),
        event_id=cols.get("event_id"), timestamp=ts, position=cols.get("position"),
        policy_version=cols.get("policy_version", "unknown"), candidates=candidates, candidate_mask=mask,
        position_propensity=dense("position_propensity"), position_reward=dense("position_reward"),
        expected_rewards=er, item_ids=meta.get("item_ids"), featuriser=meta.get("featuriser"),
    )


def _pad(rows: list, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """Ragged list column -> padded ``(n, width)`` array and its mask."""
    lengths = np.array([0 if r is None else len(r) for r in rows])
    width = int(lengths.max()) if len(rows) else 0
    mask = np.arange(width)[None, :] < lengths[:, None]
    sample = next((r[0] for r in rows if r), 0)
    if dtype is None:
        dtype = object if isinstance(sample, str) else np.asarray(sample).dtype
    fill = "" if dtype is object else 0
    out = np.full((len(rows), width), fill, dtype=dtype)
    if mask.any():
        out[mask] = np.concatenate([np.asarray(r, dtype=dtype) for r in rows if r])
    return out, mask


# ---------------------------------------------------------------------- fit provenance
_MAX_EVENT_HASHES = 1_000_000  # beyond this a fitted model records only its time window and a digest


def event_hashes(logs: LoggedFeedback) -> np.ndarray:
    """One 64-bit hash per event over its time, context, action, propensity and reward."""
    from recloop.data.features import _mix64

    ts = logs.timestamp.astype("datetime64[us]").astype(np.int64).view(np.uint64)
    h = _mix64(ts)
    cols = [logs.context, logs.action.reshape(logs.n, -1).astype(np.float64), logs.propensity[:, None],
            logs.reward[:, None]]
    for block in cols:
        bits = np.ascontiguousarray(block, dtype=np.float64).view(np.uint64)
        for j in range(bits.shape[1]):
            h = _mix64(h ^ bits[:, j])
    return h


def fingerprint(logs: LoggedFeedback) -> dict[str, Any]:
    """What a model fitted on ``logs`` records about them: size, time window, the events' hashes.

    :func:`fitted_overlap` uses it to tell which events of other logs the model was
    fitted on (evaluating a policy on the very logs it was fitted on flatters it).
    """
    ts = logs.timestamp.astype("datetime64[us]").astype(np.int64)
    hashes = event_hashes(logs)
    out: dict[str, Any] = {"n": int(logs.n), "t_min_us": int(ts.min()), "t_max_us": int(ts.max()),
                           "digest": f"{int(np.bitwise_xor.reduce(hashes)):016x}"}
    if logs.n <= _MAX_EVENT_HASHES:
        out["event_hashes"] = np.unique(hashes)
    return out


def fitted_overlap(fitted: dict[str, Any] | None, logs: LoggedFeedback) -> np.ndarray | None:
    """Mask of the events of ``logs`` that a model with provenance ``fitted`` was fitted on
    (``None``: it was not fitted on logs). Exact by event hash; for very large fits (no
    hashes kept), every event inside the fitted time window counts."""
    if not fitted:
        return None
    if "event_hashes" in fitted:
        return np.isin(event_hashes(logs), np.asarray(fitted["event_hashes"], dtype=np.uint64))
    ts = logs.timestamp.astype("datetime64[us]").astype(np.int64)
    return (ts >= fitted["t_min_us"]) & (ts <= fitted["t_max_us"])
