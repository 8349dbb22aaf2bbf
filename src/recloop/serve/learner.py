"""The live model: online learning in batches, snapshots, restart recovery, roll-back.

The model's state is always "snapshot ``version`` + every joined reward with
``seq`` in (snapshot watermark, ``watermark``], applied in ``seq`` order". A snapshot
records that watermark; on start we load the newest snapshot whose checksum holds
and replay the rewards after its watermark. Because ``update_many`` applies records
one by one in order, the model after any number of crashes equals the model of an
uninterrupted run over the same events: learning is exactly-once.

Activating an old version (roll-back) writes a *new* snapshot holding the old
state with the *current* watermark: rewards already seen stay unlearned on
purpose, and a restart reproduces exactly the activated model.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from recloop.agents.bandits.base import BanditPolicy
from recloop.core.registry import build
from recloop.core.types import Feedback
from recloop.serve.config import ServeConfig
from recloop.serve.store import Joined, Store

log = logging.getLogger("recloop.serve")


def build_policy(config: ServeConfig) -> BanditPolicy:
    """A fresh policy from the config (registered name or saved file), with the exploration
    floor and, for ``context_features="hashed"``, a featuriser for JSON-object contexts."""
    if config.policy.endswith(".npz"):
        policy = BanditPolicy.load(config.policy).set_exploration(config.exploration)
    else:
        params = dict(config.policy_params)
        max_items = params.pop("max_items", None)  # a serving bound, not a hyper-parameter
        policy = build("policy", config.policy, params, n_features=config.n_features, seed=config.seed)
        policy.set_exploration(config.exploration).set_max_items(max_items)
    if config.context_features == "hashed" and policy.featuriser is None:
        from recloop.data.features import Featuriser
        policy.set_featuriser(Featuriser(policy.n_features or config.n_features, interactions=False, seed=0))
    return policy


@dataclass(frozen=True)
class RewardDomain:
    """The rewards a policy can learn from, found by asking a fresh copy of it.

    A policy refuses what it cannot learn (Bernoulli Thompson sampling and EXP3 need
    [0, 1], Gittins 0 or 1) only when it learns, long after the client heard "204";
    the reward was then stored but never learned. The service asks first, at start,
    with probe rewards on a throw-away policy, and refuses out-of-domain rewards with
    422. (A declared ``reward_range`` on the policies would replace the probe.)
    """

    low: float = -np.inf
    high: float = np.inf
    binary: bool = False

    def problem(self, value: float) -> str | None:
        if self.binary and value not in (0.0, 1.0):
            return "rewards must be 0 or 1"
        if not self.low <= value <= self.high:
            return f"rewards must be in [{self.low:g}, {self.high:g}]"
        return None

    def __str__(self) -> str:
        if self.binary:
            return "{0, 1}"
        return "any finite number" if np.isinf(self.low) and np.isinf(self.high) else f"[{self.low:g}, {self.high:g}]"


def probe_reward_domain(config: ServeConfig) -> RewardDomain:
    """What rewards a fresh policy of ``config`` learns from (see :class:`RewardDomain`)."""
    def learns(value: float) -> bool:
        policy = build_policy(config)
        # a contextual policy always has n_features (BanditPolicy refuses None)
        ctx = np.zeros(policy.n_features) if policy.contextual and policy.n_features is not None else None
        try:
            policy.update_many([Feedback("__probe__", value, ctx)])
        except (ValueError, TypeError, KeyError, IndexError):
            return False
        return True

    if not learns(0.0):  # the probe itself is not understood (e.g. needs item features): no check
        return RewardDomain()
    low = -np.inf if learns(-1.0) else 0.0
    high = np.inf if learns(2.0) else 1.0
    return RewardDomain(low, high, binary=not learns(0.5))


class SnapshotError(RuntimeError):
    """A snapshot the service needs cannot be used (pruned, missing, corrupt)."""


_START_HINT = ("; refusing to serve another model in its place. Restore it, or start with --start-version N "
               "to serve snapshot N plus every reward after its watermark")


class ServedModel(Protocol):
    """What the learner needs of the model it serves (a :class:`BanditPolicy` for ``/v1``)."""

    @property
    def contextual(self) -> bool: ...

    @property
    def n_features(self) -> int | None: ...

    @property
    def t_(self) -> int: ...

    @property
    def known_items(self) -> list: ...

    def update_many(self, feedback: Any) -> int: ...

    def save(self, path: Any) -> Any: ...


P = TypeVar("P", bound=ServedModel)


def policy_bytes(policy: ServedModel) -> bytes:
    """The policy's save file, as bytes (the store keeps these)."""
    with tempfile.TemporaryDirectory(prefix="recloop-snap-") as d:
        return Path(policy.save(Path(d) / "model.npz")).read_bytes()


def policy_from_bytes(blob: bytes) -> BanditPolicy:
    with tempfile.TemporaryDirectory(prefix="recloop-snap-") as d:
        path = Path(d) / "model.npz"
        path.write_bytes(blob)
        return BanditPolicy.load(path)


def load_snapshot(store: Store, version: int) -> BanditPolicy:
    """Snapshot ``version`` of ``store`` (for tools: the crash drill, notebooks)."""
    row = {r["version"]: r for r in store.list_models()}[version]
    learner = object.__new__(OnlineLearner)
    learner.store = store
    return learner._load_row(row)


class ModelLearner(Generic[P]):
    """Owns the live model. Not thread-safe: call it from the event loop only.
    :meth:`new_policy` and :meth:`load_policy` say which kind of model it serves."""

    def __init__(self, config: ServeConfig, store: Store):
        self.config = config
        self.store = store
        self.policy: P = self.new_policy()
        # a policy that scores items by their features learns them from the decisions
        store.item_features = getattr(self.policy, "n_item_features", None) is not None
        self.version = 0
        self.watermark = 0
        self.snap_watermark = 0  # the watermark snapshot ``version`` holds; the live model may be past it
        self.pending: deque[Joined] = deque()
        self.lags: deque[float] = deque(maxlen=10_000)  # reward received -> learned, seconds
        self.last_lags: list[float] = []
        self.learned = 0
        self.replayed = 0
        self.skipped = 0
        self.last_snapshot = time.monotonic()
        self.published: int | None = None  # a ranker: the published snapshot it serves

    def new_policy(self) -> P:
        """A fresh model."""
        raise NotImplementedError

    def load_policy(self, blob: bytes) -> P:
        """The model saved in ``blob``."""
        raise NotImplementedError

    @property
    def version_name(self) -> str:
        """The live model, precisely: ``v3`` is snapshot 3 as written; ``v3@w1520`` is
        snapshot 3 plus every joined reward up to seq 1520 (what a restart replays)."""
        if self.watermark == self.snap_watermark:
            return f"v{self.version}"
        return f"v{self.version}@w{self.watermark}"

    @property
    def contextual(self) -> bool:
        return bool(self.policy.contextual)

    @property
    def n_features(self) -> int | None:
        return self.policy.n_features

    # ------------------------------------------------------------ start-up
    def recover(self) -> None:
        """Load the active snapshot (the newest, or ``config.start_version``) and replay
        what came after it; write v0 on a new store. Raises SnapshotError naming the
        snapshot when it cannot be loaded."""
        rows = self.store.list_models()
        start = self.config.start_version
        if start is not None:
            chosen = [r for r in rows if r["version"] == start]
            if not chosen:
                raise SnapshotError(f"start_version {start}: no such snapshot; known: {sorted(r['version'] for r in rows)}")
            rows = chosen
        if rows:
            row = rows[0]
            self.policy = self._load_row(row, hint=True)
            if self.config.context_features == "hashed" and getattr(self.policy, "featuriser", None) is None:
                raise SnapshotError(f"context_features is hashed, but snapshot v{row['version']} has no featuriser: "
                                    "its model learned from context vectors, and the featuriser is part of a "
                                    "model. Serve this store with context_features vector, or start a new store")
            self.version, self.watermark = int(row["version"]), int(row["watermark"])
            self.snap_watermark = self.watermark
        else:
            self.version, self.watermark = -1, 0
        for chunk in _chunks(self.store.joined_after(self.watermark), 2000):
            self._apply(chunk)
            self.replayed += len(chunk)
        if self.version < 0:
            self.snapshot(note="initial" if not self.replayed else "rebuilt from the log")
        log.info("model v%d, watermark %d (%d replayed)", self.version, self.watermark, self.replayed)

    # ------------------------------------------------------------ rankers follow the learner
    def fetch_published(self) -> tuple[dict, P] | None:
        """The newest published snapshot, when it is not the one served (worker thread)."""
        row = self.store.latest_model()
        if row is None or row["version"] == self.published:
            return None
        return row, self._load_row(row)

    def adopt_published(self, row: dict, policy: P) -> None:
        """Serve a published snapshot as it is (a ranker learns nothing itself; loop thread)."""
        self.policy = policy
        self.version = self.published = int(row["version"])
        self.watermark = self.snap_watermark = int(row["watermark"])

    def _load_row(self, row: dict, hint: bool = False) -> P:
        version = row["version"]
        what = f"snapshot v{version} ({row['note']}, watermark {row['watermark']})"
        blob = self.store.model_blob(version)
        if blob is None and row["path"] != "store":  # written before snapshots moved into the store
            try:
                blob = Path(row["path"]).read_bytes()
            except OSError as err:
                raise SnapshotError(f"{what}: its file {row['path']} cannot be read ({err.strerror})"
                                    + _START_HINT * hint) from None
        if blob is None:
            raise SnapshotError(f"{what} was pruned: its saved policy is no longer in the store" + _START_HINT * hint)
        if hashlib.sha256(blob).hexdigest() != row["sha256"]:
            raise SnapshotError(f"{what} fails its checksum: the stored policy is corrupt" + _START_HINT * hint)
        try:
            return self.load_policy(blob)
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise SnapshotError(f"{what} cannot be loaded: {err}" + _START_HINT * hint) from None

    # ------------------------------------------------------------ learning
    def enqueue(self, joined: list[Joined]) -> None:
        self.pending.extend(joined)

    def learn_pending(self, limit: int = 500) -> int:
        """Apply up to ``limit`` queued rewards (in seq order); returns how many."""
        if not self.pending:
            return 0
        chunk = [self.pending.popleft() for _ in range(min(limit, len(self.pending)))]
        self._apply(chunk)
        now = time.perf_counter()
        self.last_lags = [now - j.received for j in chunk if j.received]
        self.lags.extend(self.last_lags)
        return len(chunk)

    def _apply(self, chunk: list[Joined]) -> None:
        fresh = [j for j in chunk if j.seq > self.watermark]  # belt and braces: never twice
        if len(fresh) != len(chunk):
            log.warning("skipped %d rewards already learned", len(chunk) - len(fresh))
        for j in fresh:
            try:
                self.policy.update_many((j.feedback,))
            except (ValueError, TypeError, KeyError, IndexError) as err:
                # a record the policy cannot learn from must not stop learning; replay
                # meets the same record and skips it the same way, so runs still agree
                log.error("reward seq %d not learned: %s", j.seq, err)
                self.skipped += 1
            self.watermark = j.seq
        self.learned += len(fresh)

    def lag_quantiles(self) -> dict[str, float | None]:
        if not self.lags:
            return {"p50": None, "p99": None, "max": None}
        a = np.fromiter(self.lags, dtype=np.float64)
        return {"p50": float(np.quantile(a, 0.5)), "p99": float(np.quantile(a, 0.99)), "max": float(a.max())}

    # ------------------------------------------------------------ snapshots
    def freeze(self) -> tuple[P, int]:
        """A copy of the live state and the watermark it includes (cheap; loop thread)."""
        return copy.deepcopy(self.policy), self.watermark

    def write_snapshot(self, policy: P, watermark: int, *, parent: int | None, note: str) -> dict:
        """Save a frozen state into the store and register it (safe to run in a worker thread)."""
        blob = policy_bytes(policy)
        digest = hashlib.sha256(blob).hexdigest()
        version = self.store.next_model_version()
        self.store.add_model(version=version, sha256=digest, watermark=watermark, parent=parent, note=note,
                             blob=blob)
        if self.config.keep_snapshots:
            self.store.prune_models(self.config.keep_snapshots)
        return {"version": version, "sha256": digest, "watermark": watermark, "parent": parent, "note": note,
                "bytes": len(blob)}

    def snapshot(self, note: str = "manual") -> dict:
        policy, watermark = self.freeze()
        row = self.write_snapshot(policy, watermark, parent=self.version if self.version >= 0 else None, note=note)
        self.adopt_snapshot(row, watermark)
        return row

    def adopt_snapshot(self, row: dict, watermark: int) -> None:
        """Snapshot ``row``, written at ``watermark``, is now the named base of the live model."""
        self.version, self.snap_watermark = row["version"], watermark
        self.last_snapshot = time.monotonic()

    def load_version(self, version: int) -> tuple[P, dict]:
        rows = {r["version"]: r for r in self.store.list_models()}
        if version not in rows:
            raise KeyError(f"no model version {version}; known: {sorted(rows)}")
        return self._load_row(rows[version]), rows[version]

    def install(self, policy: P, version: int) -> None:
        """Make ``policy`` live as ``version`` (its watermark is the current one)."""
        if policy.contextual and policy.n_features != self.policy.n_features:
            raise ValueError(f"model expects {policy.n_features} features, service serves {self.policy.n_features}")
        self.policy = policy
        self.version, self.snap_watermark = version, self.watermark
        self.last_snapshot = time.monotonic()

    def state(self) -> dict[str, Any]:
        return {"version": self.version, "name": self.version_name, "watermark": self.watermark,
                "pending": len(self.pending), "learned": self.learned, "replayed": self.replayed,
                "skipped": self.skipped,
                "policy": type(self.policy).__name__, "updates": int(self.policy.t_),
                "items": len(self.policy.known_items)}


class OnlineLearner(ModelLearner[BanditPolicy]):
    """The learner of ``/v1``: serves the configured :class:`BanditPolicy`."""

    def new_policy(self) -> BanditPolicy:
        return build_policy(self.config)

    def load_policy(self, blob: bytes) -> BanditPolicy:
        return policy_from_bytes(blob)


def per_item_state(policy: BanditPolicy) -> dict[Any, dict[str, np.ndarray]]:
    """Learned per-arm arrays keyed by item id (see ``BanditPolicy.per_item_state``)."""
    return policy.per_item_state()


def same_model(a: BanditPolicy, b: BanditPolicy) -> bool:
    """True when both hold bit-identical learned state for every item either has
    updated; an item only one of them knows must still be untouched there."""
    sa, sb = per_item_state(a), per_item_state(b)
    fresh = build_fresh_like(a)
    for item in set(sa) | set(sb):
        x, y = sa.get(item), sb.get(item)
        x = x if x is not None else fresh
        y = y if y is not None else fresh
        if x.keys() != y.keys() or any(not np.array_equal(x[k], y[k]) for k in x):
            return False
    return True


def build_fresh_like(policy: BanditPolicy) -> dict[str, np.ndarray]:
    """The per-arm state of a never-updated arm of ``policy``'s kind."""
    return policy.fresh_item_state()


def _chunks(it: Any, n: int):
    buf: list = []
    for x in it:
        buf.append(x)
        if len(buf) == n:
            yield buf
            buf = []
    if buf:
        yield buf
