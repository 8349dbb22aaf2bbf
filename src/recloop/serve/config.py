"""Service configuration: one frozen record, checked when the service is built."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ServeConfig:
    """Everything the service depends on.

    ``policy`` is a registered policy name (``linucb``, ``thompson``, ...) built with
    ``policy_params`` (``n_features`` is passed to contextual policies), or the path
    of a saved policy (``.npz``), e.g. one trained offline.

    Keys: ``api_key`` admits rank/reward calls (``None``: open), ``admin_key`` model
    management and the log export (it also admits rank/reward). Without an admin key
    the admin routes are refused, unless ``insecure_admin`` opens them (development
    only). ``metrics_key`` guards ``/metrics`` (``None``: open). The CLI reads them from
    ``RECLOOP_API_KEY`` / ``RECLOOP_ADMIN_KEY`` / ``RECLOOP_METRICS_KEY``. They never
    appear in repr or logs.
    """

    role: str = "all"                        # all | ranker | learner (see recloop.serve.inbox)
    model_refresh_s: float = 1.0             # rankers: how often to look for a newer published model
    policy: str = "linucb"
    policy_params: dict[str, Any] = field(default_factory=dict)
    # Exploration floor: every candidate keeps probability >= exploration / K, so the logs
    # can evaluate other policies offline (0 turns it off: a deterministic policy then logs
    # propensity 1 and its logs support no other policy).
    exploration: float = 0.05
    n_features: int = 16
    # "hashed": contexts sent as JSON objects are hashed into n_features by a Featuriser
    # (recloop.data.features) saved with the model. "vector": contexts are vectors (or flat
    # objects of numbers, ordered by name). A saved model's own featuriser takes precedence.
    context_features: str = "vector"
    db: str = "sqlite:///recloop.db"
    db_schema: str | None = None
    sqlite_synchronous: str = "FULL"
    snapshot_dir: str | None = None          # unused: snapshots live in the store (kept so old configs load)
    start_version: int | None = None         # serve this snapshot (+ the rewards after it), not the newest
    snapshot_every_s: float = 60.0           # 0: only on request
    keep_snapshots: int = 100                # snapshot files kept on disk (newest first); 0: all
    reward_wait_s: float = 600.0             # after this, an event with no reward gets default_reward
    default_reward: float | None = 0.0       # None: never join unrewarded events
    learn_interval_s: float = 0.05           # how long the learner waits to gather a batch
    lease_s: float = 10.0                    # the learner lease: renewed every lease_s/3, taken over after it expires
    max_learning_lag_s: float = 30.0         # /readyz fails when the oldest unlearned reward is older than this
    max_body_bytes: int = 256 * 1024
    max_candidates: int = 1000
    cors_origins: tuple[str, ...] = ()
    api_key: str | None = field(default=None, repr=False)
    admin_key: str | None = field(default=None, repr=False)
    metrics_key: str | None = field(default=None, repr=False)
    insecure_admin: bool = False
    seed: int | None = None
    # Freeze the objects alive after start-up out of the garbage collector's reach
    # (gc.freeze). A full collection over them stopped the event loop for ~110 ms
    # under load, once per ~10 s run. For a server process only: in a process that
    # builds many apps (tests), cyclic garbage frozen this way is never collected.
    freeze_gc: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.exploration <= 1.0:
            raise ValueError(f"exploration must be in [0, 1], got {self.exploration!r}")
        if int(self.n_features) != self.n_features or self.n_features < 1:
            raise ValueError(f"n_features must be a positive integer, got {self.n_features!r}")
        if self.context_features not in ("vector", "hashed"):
            raise ValueError(f"context_features must be vector or hashed, got {self.context_features!r}")
        if self.role not in ("all", "ranker", "learner"):
            raise ValueError(f"role must be all, ranker or learner, got {self.role!r}")
        if self.role != "all" and not self.db.startswith("postgresql"):
            raise ValueError(f"role {self.role} needs a PostgreSQL store (rankers on many processes and hosts "
                             "log to one database); SQLite serves one process: role all")
        if not self.model_refresh_s > 0:
            raise ValueError(f"model_refresh_s must be > 0, got {self.model_refresh_s!r}")
        if not self.lease_s >= 0.3:
            raise ValueError(f"lease_s must be at least 0.3 seconds, got {self.lease_s!r}")
        for name in ("snapshot_every_s", "reward_wait_s", "learn_interval_s", "max_learning_lag_s"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if int(self.keep_snapshots) != self.keep_snapshots or self.keep_snapshots < 0:
            raise ValueError(f"keep_snapshots must be a non-negative integer, got {self.keep_snapshots!r}")
        if self.max_body_bytes < 1024:
            raise ValueError(f"max_body_bytes must be at least 1024, got {self.max_body_bytes}")
        for name in ("api_key", "admin_key", "metrics_key"):
            key = getattr(self, name)
            if key is not None and len(key) < 8:
                raise ValueError(f"{name} must be at least 8 characters")

    def to_env(self) -> str:
        """This config (without its keys, which travel in their own variables) as JSON,
        for ``RECLOOP_SERVE_CONFIG``: how ``--workers N`` hands it to each worker process."""
        import json
        from dataclasses import asdict
        data = {k: v for k, v in asdict(self).items() if k not in ("api_key", "admin_key", "metrics_key")}
        return json.dumps(data)

    @classmethod
    def from_env(cls, **overrides: Any) -> "ServeConfig":
        """Keys from ``RECLOOP_API_KEY`` / ``RECLOOP_ADMIN_KEY`` / ``RECLOOP_METRICS_KEY`` unless given."""
        overrides.setdefault("api_key", os.environ.get("RECLOOP_API_KEY") or None)
        overrides.setdefault("admin_key", os.environ.get("RECLOOP_ADMIN_KEY") or None)
        overrides.setdefault("metrics_key", os.environ.get("RECLOOP_METRICS_KEY") or None)
        return cls(**overrides)
