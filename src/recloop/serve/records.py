"""What the service stores, as Python records, and the byte packing of their vectors.

Kept apart from the store's SQL so the request path (schemas, writer) can build records
without the database layer. Vectors are stored as float64 bytes: printing 20 x 16 floats
as JSON cost more than the rest of a decision row together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np
import orjson


@dataclass(frozen=True, slots=True)
class Decision:
    """One ranked request, as stored."""

    event_id: str
    context: list[float]
    candidates: list[tuple[str, list[float] | None]]
    items: list[str]
    scores: list[float]
    propensities: list[float]
    model_version: str
    request_hash: str
    ts: float = 0.0
    # the candidates' features already packed (pack_features), when the caller has them
    packed: tuple[bytes | None, int] | None = field(default=None, compare=False, repr=False)

    @property
    def chosen(self) -> str:
        return self.items[0]


@dataclass(frozen=True, slots=True)
class RewardIn:
    """A reward as received (``item_id=None``: the chosen item)."""

    event_id: str
    value: float
    item_id: str | None = None
    is_default: bool = False
    received: float = 0.0  # perf_counter at arrival, for the learning-lag metric


F = TypeVar("F")


@dataclass(frozen=True, slots=True)
class Joined(Generic[F]):
    """A (decision, reward) pair committed under reward sequence number ``seq``; its
    ``feedback`` is what the served model learns from (a :class:`recloop.core.types.Feedback` for ``/v1``)."""

    seq: int
    feedback: F
    received: float = 0.0
    is_default: bool = False


def pack_features(feats: list[list[float] | None]) -> tuple[bytes | None, int]:
    """Candidate features as float64 bytes (rows NaN-padded to the longest) and that length."""
    try:  # the common case: every candidate has features of one (non-zero) length
        arr = np.array(feats, dtype=np.float64)
        if arr.ndim == 2 and arr.shape[1]:
            return arr.tobytes(), arr.shape[1]
    except (TypeError, ValueError):
        pass
    dim = max((len(f) for f in feats if f is not None), default=0)
    if dim == 0:
        return None, 0
    out = np.full((len(feats), dim), np.nan)
    for i, f in enumerate(feats):
        if f is not None:
            out[i, :len(f)] = f  # shorter vectors are NaN-padded
    return out.tobytes(), dim


def unpack_features(blob: bytes | None, dim: int, n: int) -> list[list[float] | None]:
    """Candidate features as stored (None for a candidate sent without features)."""
    if blob is None or dim == 0:
        return [None] * n
    arr = np.frombuffer(blob, dtype=np.float64).reshape(n, dim)
    return [None if np.isnan(row).all() else row[~np.isnan(row)].tolist() for row in arr]


def chosen_features(candidates: str, blob: bytes | None, dim: int, chosen: str) -> np.ndarray | None:
    """The chosen candidate's features as stored with its decision (None: it had none).
    ``candidates`` is the decision's JSON list of candidate ids, ``blob``/``dim`` its packed features."""
    if blob is None or dim == 0:
        return None
    j = orjson.loads(candidates).index(chosen)
    row = np.frombuffer(blob, dtype=np.float64, count=dim, offset=j * dim * 8)
    row = row[~np.isnan(row)]  # NaN pads shorter vectors (pack_features)
    return row.copy() if row.size else None


def unpack_context(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float64).copy()  # a writable copy, not a view of the row
