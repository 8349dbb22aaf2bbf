"""One featuriser for contexts and items as teams have them: fit, OPE and serving share it.

Personalizer-style clients send contexts as nested dicts with namespaces
(``{"user": {"age": 31, "country": "de"}, "device": "mobile"}``); logs on disk
hold flat numeric columns. :class:`Featuriser` turns both into fixed-length
vectors, the same way everywhere, by the *hashing trick* (Weinberger et al.
2009, "Feature hashing for large scale multitask learning"; Vowpal Wabbit's
namespaces):

- nested keys become dotted names (``"user.age"``);
- numbers are used as they are (bools as 0/1) at the hashed index of the name;
- strings are one-hot at the hashed index of ``"name=value"``;
- lists of strings are several one-hots, lists of numbers are ``"name[i]"``;
- every name also gets a hashed sign (+1/-1), so colliding features cancel in
  expectation instead of adding up (the bias correction of Weinberger et al.);
- the hash is BLAKE2b keyed by the seed: the same in every process and on every
  platform (Python's ``hash()`` is salted per process and would not be).

Item features are hashed with their own salt, so an item feature ``"price"``
and a context feature ``"price"`` are different coordinates. A per-candidate
linear model sees :meth:`Featuriser.joint`: context + item + (if
``interactions``) the hashed products of every context coordinate with every
item coordinate (VW's ``-q``), all in the one ``n_features`` space.

Contexts that are already dense numeric vectors (logs with flat feature
columns, the simulators) pass through unchanged with :meth:`Featuriser.dense`.

Example:
    >>> f = Featuriser(n_features=64, interactions=False, seed=0)
    >>> x = f.context({"user": {"age": 31, "country": "de"}, "device": "mobile"})
    >>> x.shape, int((x != 0).sum()), sorted(np.abs(x[x != 0]).tolist())
    ((64,), 3, [1.0, 1.0, 31.0])
    >>> np.array_equal(x, f.context({"device": "mobile", "user": {"country": "de", "age": 31}}))
    True
    >>> d = Featuriser.dense(3)
    >>> d.context([1.0, 2.0, 3.0]).tolist(), d.dim
    ([1.0, 2.0, 3.0], 3)
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from numbers import Number
from typing import Any

import numpy as np

__all__ = ["Featuriser"]

_FORMAT = 1
_CACHE_LIMIT = 200_000  # name -> (index, sign); cleared when full, so memory stays bounded
_ITEM_CACHE_LIMIT = 50_000  # item key -> its (indices, values), likewise
_CONTEXT, _ITEM = b"c", b"i"
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a fixed, platform-independent 64-bit mix (for interaction indices)."""
    z = z.astype(np.uint64, copy=True)
    z ^= z >> np.uint64(30)
    z *= _M1
    z ^= z >> np.uint64(27)
    z *= _M2
    z ^= z >> np.uint64(31)
    return z


class Featuriser:
    """Turns contexts and item features into vectors by stable signed feature hashing.

    Args:
        n_features: hashing dimension (length of every vector), a positive integer.
        interactions: add context x item products in :meth:`joint`.
        seed: keys the hash; two featurisers agree exactly when their ``to_dict()`` agree.
    """

    def __init__(self, n_features: int = 2**12, interactions: bool = True, seed: int = 0) -> None:
        if isinstance(n_features, bool) or not isinstance(n_features, (int, np.integer)) or n_features < 1:
            raise ValueError(f"n_features must be a positive integer, got {n_features!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.n_features = int(n_features)
        self.interactions = bool(interactions)
        self.seed = int(seed)
        self.n_item_features = 0  # only the dense form has a fixed item width
        self._dense = False
        self._key = self.seed.to_bytes(8, "little")
        self._cache: dict[tuple[bytes, str], tuple[int, float]] = {}
        self._items: dict[Any, tuple[list[int], list[float]]] = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    def dense(cls, n_context: int, n_item: int = 0, interactions: bool = False) -> Featuriser:
        """A featuriser for contexts that are already numeric vectors of length ``n_context``.

        Contexts (and item features, length ``n_item``) pass through unchanged;
        :meth:`joint` concatenates context, item and (if ``interactions``) their
        outer product, so ``dim = n_context + n_item (+ n_context * n_item)``.
        """
        if isinstance(n_context, bool) or not isinstance(n_context, (int, np.integer)) or n_context < 0:
            raise ValueError(f"n_context must be a non-negative integer, got {n_context!r}")
        if isinstance(n_item, bool) or not isinstance(n_item, (int, np.integer)) or n_item < 0:
            raise ValueError(f"n_item must be a non-negative integer, got {n_item!r}")
        f = cls.__new__(cls)
        f.n_features, f.n_item_features = int(n_context), int(n_item)
        f.interactions, f.seed, f._dense = bool(interactions), 0, True
        f._key, f._cache, f._items = b"", {}, {}
        return f

    @property
    def is_dense(self) -> bool:
        return self._dense

    @property
    def dim(self) -> int:
        """Length of the vectors :meth:`joint` returns."""
        if not self._dense:
            return self.n_features
        d, m = self.n_features, self.n_item_features
        return d + m + (d * m if self.interactions else 0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description; :meth:`from_dict` rebuilds an identical featuriser."""
        return {"format": _FORMAT, "kind": "dense" if self._dense else "hashed",
                "n_features": self.n_features, "n_item_features": self.n_item_features,
                "interactions": self.interactions, "seed": self.seed}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Featuriser:
        if not isinstance(d, Mapping) or d.get("format") != _FORMAT:
            raise ValueError(f"not a featuriser description (format {_FORMAT}): {d!r}")
        if d.get("kind") == "dense":
            return cls.dense(int(d["n_features"]), int(d.get("n_item_features", 0)), bool(d["interactions"]))
        if d.get("kind") != "hashed":
            raise ValueError(f"unknown featuriser kind {d.get('kind')!r} (expected 'hashed' or 'dense')")
        return cls(int(d["n_features"]), bool(d["interactions"]), int(d["seed"]))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Featuriser) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.to_dict().items())))

    def __repr__(self) -> str:
        if self._dense:
            return f"Featuriser.dense({self.n_features}, {self.n_item_features}, interactions={self.interactions})"
        return f"Featuriser(n_features={self.n_features}, interactions={self.interactions}, seed={self.seed})"

    def __getstate__(self) -> dict[str, Any]:
        return self.to_dict()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(Featuriser.from_dict(state).__dict__)

    # ------------------------------------------------------------------ vectors
    def context(self, ctx: Any) -> np.ndarray:
        """The context vector, shape ``(n_features,)``."""
        if self._dense:
            return self._dense_vector(ctx, self.n_features, "context")
        idx, val = self._sparse(ctx, _CONTEXT, "context")
        return np.bincount(idx, weights=val, minlength=self.n_features).astype(np.float64)

    def contexts(self, batch: Sequence[Any]) -> np.ndarray:
        """Many contexts at once, shape ``(n, n_features)`` (a numeric 2-D array passes through in dense form)."""
        if self._dense and isinstance(batch, np.ndarray) and batch.ndim == 2:
            return self._dense_matrix(batch)
        out = np.zeros((len(batch), self.n_features))
        for i, ctx in enumerate(batch):
            try:
                out[i] = self.context(ctx)
            except ValueError as e:
                raise ValueError(f"row {i}: {e}") from None
        return out

    def item(self, feats: Any) -> np.ndarray:
        """The item vector. ``None`` means "no item features" (the item is known by its id alone)."""
        if self._dense:
            if feats is None:
                return np.zeros(self.n_item_features)
            return self._dense_vector(feats, self.n_item_features, "item features")
        idx, val = self._sparse(feats, _ITEM, "item")
        return np.bincount(idx, weights=val, minlength=self.n_features).astype(np.float64)

    def joint(self, ctx: Any, feats: Any) -> np.ndarray:
        """What a per-candidate linear model sees: context, item and (if ``interactions``) their products."""
        return self.joint_batch(ctx, [feats])[0]

    def joint_batch(self, ctx: Any, items: Sequence[Any]) -> np.ndarray:
        """:meth:`joint` for every candidate of one request, shape ``(len(items), dim)``, in one pass."""
        n = len(items)
        if self._dense:
            x = self.context(ctx)
            z = np.stack([self.item(f) for f in items]) if n else np.zeros((0, self.n_item_features))
            parts = [np.broadcast_to(x, (n, x.size)), z]
            if self.interactions:
                parts.append((z[:, None, :] * x[None, :, None]).reshape(n, -1))
            return np.concatenate(parts, axis=1)
        flat, weights = self._joint_entries(ctx, items)
        out = np.bincount(flat, weights=weights, minlength=n * self.n_features)
        return out.reshape(n, self.n_features)

    def joint_sparse(self, ctx: Any, items: Sequence[Any], item_keys: Sequence[Any] | None = None,
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The non-zeros of :meth:`joint_batch` as ``(rows, indices, values)``, row-major:
        what a sparse linear model needs, without the ``(n, n_features)`` array (hashed form only).

        ``item_keys``, when given, names each item's features by a hashable that is equal only
        for equal features (their JSON text, say; None: not known): an item seen before under
        its key is not featurised again. Same vectors either way."""
        if self._dense:
            X = self.joint_batch(ctx, items)
            r, i = np.nonzero(X)
            return r, i, X[r, i]
        flat, weights = self._joint_entries(ctx, items, item_keys)
        # np.unique(flat, return_inverse=True) without its generic overhead; bincount then adds
        # each coordinate's contributions in their order in ``flat``, as joint_batch does
        perm = flat.argsort()
        ordered = flat[perm]
        first = np.empty(ordered.size, bool)
        first[:1] = True
        np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
        uniq = ordered[first]
        inverse = np.empty(flat.size, np.intp)
        inverse[perm] = np.cumsum(first) - 1
        values = np.bincount(inverse, weights=weights, minlength=uniq.size)
        keep = values != 0
        uniq, values = uniq[keep], values[keep]
        return uniq // self.n_features, uniq % self.n_features, values

    def _joint_entries(self, ctx: Any, items: Sequence[Any], item_keys: Sequence[Any] | None = None,
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Every (row * n_features + index, value) contribution of :meth:`joint_batch`, in the order
        they are summed."""
        n = len(items)
        c_idx, c_val = self._sparse(ctx, _CONTEXT, "context")
        rows, idx, val = [np.repeat(np.arange(n), c_idx.size)], [np.tile(c_idx, n)], [np.tile(c_val, n)]
        i_idx_l: list[int] = []  # every candidate's indices and values, candidate by candidate
        i_val_l: list[float] = []
        sizes = np.zeros(n, np.int64)
        memo = self._items
        for r, feats in enumerate(items):
            key = None if item_keys is None else item_keys[r]
            part = None if key is None else memo.get(key)
            if part is None:
                try:
                    entries = self._entries(feats, _ITEM, "item")
                except ValueError as e:
                    raise ValueError(f"candidate {r}: {e}") from None
                part = ([e[0] for e in entries], [e[1] for e in entries])
                if key is not None:
                    if len(memo) >= _ITEM_CACHE_LIMIT:
                        memo.clear()
                    memo[key] = part
            sizes[r] = len(part[0])
            i_idx_l += part[0]
            i_val_l += part[1]
        i_row = np.repeat(np.arange(n), sizes)
        i_idx = np.array(i_idx_l, np.int64)
        i_val = np.array(i_val_l, np.float64)
        rows.append(i_row)
        idx.append(i_idx)
        val.append(i_val)
        if self.interactions and c_idx.size and i_idx.size:
            # every candidate's products in one pass (one hash call, not one per candidate);
            # row by row, context index major - the order the per-candidate loop had, so the
            # sums per coordinate (and so the vectors) are bit-identical
            x_idx, x_val = self._cross(c_idx, c_val, i_idx, i_val)  # (c, all item entries), c-major
            k = c_idx.size
            x_row = np.tile(i_row, k)
            order = np.argsort(x_row * k + np.repeat(np.arange(k), i_idx.size), kind="stable")
            rows.append(x_row[order])
            idx.append(x_idx[order])
            val.append(x_val[order])
        return np.concatenate(rows).astype(np.int64) * self.n_features + np.concatenate(idx), np.concatenate(val)

    # ------------------------------------------------------------------ internals
    def _cross(self, c_idx: np.ndarray, c_val: np.ndarray, i_idx: np.ndarray, i_val: np.ndarray):
        # Index-based quadratic hashing (as VW): the pair (context index, item index) is mixed
        # with the seed; one bit gives the sign, the rest the index.
        pair = (c_idx.astype(np.uint64)[:, None] << np.uint64(32)) | i_idx.astype(np.uint64)[None, :]
        h = _mix64(pair ^ np.uint64((self.seed * 0x9E3779B97F4A7C15 + 1) % 2**64)).ravel()
        index = (h % np.uint64(self.n_features)).astype(np.int64)
        sign = np.where((h >> np.uint64(63)) == 1, -1.0, 1.0)
        return index, sign * (c_val[:, None] * i_val[None, :]).ravel()

    def _hash(self, space: bytes, name: str) -> tuple[int, float]:
        key = (space, name)
        hit = self._cache.get(key)
        if hit is None:
            digest = hashlib.blake2b(space + name.encode("utf-8"), digest_size=8, key=self._key).digest()
            h = int.from_bytes(digest, "little")
            hit = (h % self.n_features, -1.0 if h >> 63 else 1.0)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = hit
        return hit

    def _sparse(self, obj: Any, space: bytes, what: str) -> tuple[np.ndarray, np.ndarray]:
        entries = self._entries(obj, space, what)
        return np.array([e[0] for e in entries], np.int64), np.array([e[1] for e in entries], np.float64)

    def _entries(self, obj: Any, space: bytes, what: str) -> list[tuple[int, float]]:
        """``obj``'s (hashed index, signed value) pairs, in name order."""
        if obj is None:
            if space == _ITEM:
                return []
            raise ValueError(f"{what} is None: a context must be a dict of features or a list of numbers")
        if not isinstance(obj, (Mapping, list, tuple, np.ndarray)):
            raise ValueError(f"{what} is a {type(obj).__name__}; expected a dict of features or a list of numbers")
        pairs: list[tuple[str, float]] = []
        _flatten(obj, "", pairs, what)
        # Sorted by name, so the sum over colliding names is the same whatever the key order.
        pairs.sort(key=lambda p: p[0])
        out = []
        for name, v in pairs:
            i, sign = self._hash(space, name)
            out.append((i, sign * v))
        return out

    def _dense_vector(self, obj: Any, n: int, what: str) -> np.ndarray:
        if obj is None:
            raise ValueError(f"{what} is None; this featuriser expects {n} numbers")
        if isinstance(obj, Mapping) or isinstance(obj, str):
            raise ValueError(f"{what} is a {type(obj).__name__}; this dense featuriser expects {n} numbers "
                             "(use Featuriser(n_features=...) for named features)")
        try:
            x = np.asarray(obj, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{what} is not numeric: {obj!r}") from None
        if x.ndim != 1 or x.size != n:
            raise ValueError(f"{what} has shape {x.shape}; expected ({n},)")
        bad = np.flatnonzero(~np.isfinite(x))
        if bad.size:
            raise ValueError(f"{what}[{bad[0]}] is not finite ({x[bad[0]]})")
        return x

    def _dense_matrix(self, batch: np.ndarray) -> np.ndarray:
        x = np.asarray(batch, dtype=np.float64)
        if x.shape[1] != self.n_features:
            raise ValueError(f"contexts have {x.shape[1]} columns; expected {self.n_features}")
        bad = np.argwhere(~np.isfinite(x))
        if bad.size:
            r, c = bad[0]
            raise ValueError(f"row {r}: context[{c}] is not finite ({x[r, c]})")
        return x


def _number(v: Any, name: str, what: str) -> float:
    x = float(v)
    if not math.isfinite(x):
        raise ValueError(f"{what} feature {name!r} is not finite ({x})")
    return x


def _flatten(obj: Any, prefix: str, out: list[tuple[str, float]], what: str) -> None:
    """Appends (name, value) pairs for one (possibly nested) feature value."""
    # JSON's own types are met first, by plain type checks: the ABC checks (Mapping, Number)
    # cost more than the rest of featurising a request; other types reach them below.
    kind = type(obj)
    label = prefix or "<top level>"
    if isinstance(obj, str):
        out.append((f"{prefix}={obj}", 1.0))
    elif kind is float or kind is int:
        out.append((prefix, _number(obj, label, what)))
    elif isinstance(obj, (bool, np.bool_)):
        out.append((prefix, 1.0 if obj else 0.0))
    elif kind is dict or isinstance(obj, Mapping):
        for key, value in obj.items():
            if not isinstance(key, str):
                raise ValueError(f"{what} feature key {key!r} under {label!r} is not a string")
            _flatten(value, f"{prefix}.{key}" if prefix else key, out, what)
    elif isinstance(obj, (Number, np.number)) and not isinstance(obj, complex):
        out.append((prefix, _number(obj, label, what)))
    elif isinstance(obj, (list, tuple, np.ndarray)):
        values = obj.tolist() if isinstance(obj, np.ndarray) else obj
        if values and all(isinstance(v, str) for v in values):
            out.extend((f"{prefix}={v}", 1.0) for v in values)
        elif all(isinstance(v, (Number, np.number, bool)) and not isinstance(v, complex) for v in values):
            out.extend((f"{prefix}[{i}]", _number(v, f"{label}[{i}]", what)) for i, v in enumerate(values))
        else:
            raise ValueError(f"{what} feature {label!r} is a list mixing types or holding "
                             f"non-scalars ({values[:3]!r}...); use all numbers or all strings")
    elif obj is None:
        raise ValueError(f"{what} feature {label!r} is null; drop the key or give it a value")
    else:
        raise ValueError(f"{what} feature {label!r} has unsupported type {type(obj).__name__}")
