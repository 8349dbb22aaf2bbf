"""The running service behind the HTTP routes: the store, its writer, the live model and
the loops that learn, snapshot, sweep default rewards and keep the learner lease.

:func:`recloop.serve.app.create_app` wraps one in a FastAPI app; the routes are thin.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import os
import sys
import time
import uuid
from typing import Any, cast

import numpy as np
from fastapi import HTTPException

from recloop.serve.config import ServeConfig
from recloop.serve.inputs import context_vector, recommend
from recloop.serve.learner import OnlineLearner, build_policy, probe_reward_domain
from recloop.serve.metrics import ServeMetrics
from recloop.serve.schemas import RankInput, RewardRequest
from recloop.serve.store import CONFLICT, SAME, STORED, UNKNOWN, Decision, Joined, RewardIn, Store, StoreFenced
from recloop.serve.writer import GroupWriter, describe, renew_lease

log = logging.getLogger("recloop.serve")


class Service:
    """Everything one running service holds; the app's routes are thin wrappers around it."""

    def __init__(self, config: ServeConfig):
        self.config = config
        build_policy(config)  # fail now, with a clear message, on an unknown policy or bad params
        if config.insecure_admin and not config.admin_key:
            log.warning("insecure_admin: model management and log export are open to anyone who reaches the port")
        self.reward_domain = probe_reward_domain(config)
        if config.default_reward is not None and self.reward_domain.problem(config.default_reward):
            raise ValueError(f"default_reward {config.default_reward} is outside what the {config.policy} policy "
                             f"learns from: {self.reward_domain.problem(config.default_reward)}")
        self.store = Store(config.db, schema=config.db_schema, synchronous=config.sqlite_synchronous)
        self.learner = OnlineLearner(config, self.store)
        self.metrics = ServeMetrics()
        self.writer: GroupWriter | None = None
        self._tasks: list[asyncio.Task] = []
        self._wake = asyncio.Event()
        self._gate = asyncio.Lock()       # held while the live model is replaced
        self._snap_lock = asyncio.Lock()  # one snapshot at a time
        self._snap_watermark = 0
        self._swept_seq = 0
        self.started = time.time()
        self.model_loaded = False
        self.fenced: str | None = None       # why this service lost the learner lease, once it has
        self.lease_error: str | None = None  # the last heartbeat's failure (None: the last one succeeded)
        self.lease_partners: list[Store] = []  # stores whose learner leases are claimed with this one's

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self.config.role == "ranker":
            await self._start_ranker()
        else:
            await self._start_learner()
        if self.config.freeze_gc:  # a server process (see ServeConfig.freeze_gc)
            # The writer thread takes the GIL back after each database call; with the
            # default 5 ms switch interval it waited that long behind request handling
            # every time, and each group commit (so each request) with it. 0.1 ms: a
            # SQLite batch beside a busy thread took 2.9-4.1 ms instead of 6.1-7.1 at
            # 0.5 ms (benchmarks/store_batch.py --busy-thread), for ~7% more CPU.
            sys.setswitchinterval(float(os.environ.get("RECLOOP_SWITCH_INTERVAL", "0.0001")))
            gc.collect()  # what is garbage now is collected, not frozen
            gc.freeze()

    async def _start_learner(self) -> None:
        """Role all (one process: rank, log, learn) or learner (orders and learns what rankers logged)."""
        # before replay: no other writer may be appending
        await asyncio.to_thread(self.store.claim_writer, self.config.lease_s, None, self.lease_partners)
        try:
            await asyncio.to_thread(self.learner.recover)
        except BaseException:
            for store in (self.store, *self.lease_partners):  # give the leases and locks back: nothing was served
                await asyncio.to_thread(store.close)
            raise
        self.model_loaded = True
        self._snap_watermark = self.learner.watermark
        self.metrics.version.set(self.learner.version)
        self.metrics.watermark.set(self.learner.watermark)
        self._tasks = [asyncio.create_task(self._learn_loop(), name="learn"),
                       asyncio.create_task(self._lease_loop(), name="lease")]
        if self.config.role == "all":
            self.writer = GroupWriter(self.store, asyncio.get_running_loop(), self._on_joined,
                                      on_batch=self.metrics.batch.observe, on_failure=self._on_store_failure)
            self.writer.start()
        else:
            self._tasks.append(asyncio.create_task(self._inbox_loop(), name="inbox"))
        if self.config.snapshot_every_s > 0:
            self._tasks.append(asyncio.create_task(self._snapshot_loop(), name="snapshot"))
        if self.config.default_reward is not None:
            self._tasks.append(asyncio.create_task(self._sweep_loop(), name="sweep"))

    async def _start_ranker(self) -> None:
        """Role ranker: rank with the newest published model, log decisions and rewards."""
        from recloop.serve.inbox import join_as_ranker
        await join_as_ranker(self.store, self.learner)
        self.model_loaded = True
        self.metrics.version.set(self.learner.version)
        self.writer = GroupWriter(self.store, asyncio.get_running_loop(), self._on_joined,
                                  on_batch=self.metrics.batch.observe, on_failure=self._on_store_failure)
        self.writer.start()
        self._tasks = [asyncio.create_task(self._follow_loop(), name="follow")]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.writer is not None:
            await asyncio.to_thread(self.writer.stop)
        await asyncio.sleep(0)  # let the writer's last deliveries run
        if self.config.role != "ranker":
            while self.learner.learn_pending(10_000):
                pass
            if self.learner.watermark > self._snap_watermark and self.fenced is None:
                try:
                    await self.snapshot("shutdown")
                except Exception as err:  # store down: a restart replays what the last snapshot lacks
                    log.error("shutdown snapshot failed: %s", describe(err))
        self.store.close()
        for store in self.lease_partners:  # closed already unless their own start failed
            store.close()

    async def _follow_loop(self) -> None:
        """A ranker serves the newest published model within ``model_refresh_s``."""
        while True:
            await asyncio.sleep(self.config.model_refresh_s)
            try:
                found = await asyncio.to_thread(self.learner.fetch_published)
                self.lease_error = None
            except Exception as err:  # noqa: BLE001 - keep serving the model we have
                self.lease_error = describe(err)
                log.error("model refresh failed: %s", self.lease_error)
                continue
            if found is not None:
                self.learner.adopt_published(*found)
                self.metrics.version.set(self.learner.version)
                self.metrics.watermark.set(self.learner.watermark)

    async def _inbox_loop(self) -> None:
        """The learner moves what rankers logged into reward order, then learns it."""
        from recloop.serve.inbox import take_inbox
        limit = 5000
        while True:
            try:
                joined = await asyncio.to_thread(take_inbox, self.store, limit)
            except StoreFenced as err:
                self.fenced = str(err)
                await asyncio.sleep(1.0)
                continue
            except Exception as err:  # noqa: BLE001 - the store is down: /readyz says so
                self.lease_error = describe(err)
                log.error("taking rewards from the inbox failed: %s", self.lease_error)
                await asyncio.sleep(1.0)
                continue
            if joined:
                self._on_joined(joined)
            if len(joined) < limit:  # caught up: gather a batch (each take is a commit of its own)
                await asyncio.sleep(max(self.config.learn_interval_s, 0.02))

    # ------------------------------------------------------------ health
    def _on_store_failure(self, err: Exception) -> None:  # writer thread
        self.metrics.store_failures.inc()
        if isinstance(err, StoreFenced):
            self.fenced = str(err)

    async def _lease_loop(self) -> None:
        """Renew the learner lease while idle (every commit renews it too); a failed
        renewal is what /readyz reports, with its cause, before any client meets it."""
        while True:
            every = self.config.lease_s / 3
            await asyncio.sleep(every / 2)  # renewals at most lease_s/2 apart: one may fail and be retried
            if not self.store.lease_due(every) and self.lease_error is None:
                continue  # a commit just renewed it (and showed the store writable)
            try:
                await renew_lease(self.store, self.writer)
                self.lease_error = None
                if self.writer is not None:
                    self.writer.last_error = None  # the store took a write again
            except StoreFenced as err:
                if self.fenced is None:
                    log.error("%s", err)
                self.fenced = str(err)
            except Exception as err:  # noqa: BLE001 - the store is down, full, read-only, ...
                self.lease_error = describe(err)
                log.error("store check failed: %s", self.lease_error)

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """What /readyz reports: store writable, model loaded, learner within its lag bound."""
        pending = self.learner.pending
        lag = time.perf_counter() - pending[0].received if pending and pending[0].received else 0.0
        store_error = self.lease_error or (self.writer.last_error if self.writer is not None else None)
        checks: dict[str, dict[str, Any]] = {
            "model": {"ok": self.model_loaded, "version": self.learner.version_name},
            "store": {"ok": store_error is None, "error": store_error},
            "lease": ({"ok": True, "role": "ranker"} if self.config.role == "ranker" else
                      {"ok": self.fenced is None and self.store.token is not None, "token": self.store.token,
                       "error": self.fenced}),
            "learning": {"ok": lag <= self.config.max_learning_lag_s, "lag_s": round(lag, 3),
                         "pending": len(pending), "bound_s": self.config.max_learning_lag_s},
        }
        ok = all(c["ok"] for c in checks.values())
        self.metrics.ready.set(1 if ok else 0)
        return ok, checks

    # ------------------------------------------------------------ learning
    def _on_joined(self, joined: list[Joined]) -> None:
        self.learner.enqueue(joined)
        for j in joined:
            self.metrics.joined(j.feedback.reward, j.is_default)
        self.metrics.pending.set(len(self.learner.pending))
        self._wake.set()

    async def _learn_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(self.config.learn_interval_s)  # gather a batch
            while self.learner.pending:
                skipped = self.learner.skipped
                async with self._gate:
                    self.learner.learn_pending(256)
                if self.learner.skipped > skipped:
                    self.metrics.skipped.inc(self.learner.skipped - skipped)
                for lag in self.learner.last_lags:
                    self.metrics.lag.observe(lag)
                self.metrics.watermark.set(self.learner.watermark)
                self.metrics.pending.set(len(self.learner.pending))
                await asyncio.sleep(0)  # ranking requests go between chunks

    async def _snapshot_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.snapshot_every_s)
            if self.learner.watermark > self._snap_watermark and self.fenced is None:  # fenced: said once
                try:
                    await self.snapshot("periodic")
                except Exception as err:  # keep serving; the next period tries again
                    log.error("periodic snapshot failed: %s", describe(err))

    async def _sweep_loop(self) -> None:
        """Join events whose reward never came with the default reward, once the window closes."""
        period = min(max(self.config.reward_wait_s / 4, 0.2), 5.0)
        while True:
            await asyncio.sleep(period)
            try:
                cutoff = time.time() - self.config.reward_wait_s
                while True:  # after a restart, catch up through the old decisions page by page
                    ids, last = await asyncio.to_thread(self.store.expired_without_reward, cutoff,
                                                        self._swept_seq, 5000, self.writer is None)
                    default = self.config.default_reward
                    assert default is not None  # this loop is started only with a default reward
                    if self.writer is None:  # the learner of rankers: through their inbox
                        from recloop.serve.inbox import sweep_into_inbox
                        await asyncio.to_thread(sweep_into_inbox, self.store, ids, float(default))
                    else:
                        await asyncio.gather(*(self.writer.reward(RewardIn(e, float(default),
                                                                           is_default=True)) for e in ids))
                    done = last == self._swept_seq
                    self._swept_seq = last
                    if done:
                        break
            except Exception as err:
                log.error("default-reward sweep failed: %s", err)

    # ------------------------------------------------------------ models
    def _manages_models(self) -> None:
        if self.config.role == "ranker":
            raise HTTPException(409, "this service is a ranker: snapshots and activation happen on the learner")

    async def snapshot(self, note: str) -> dict:
        self._manages_models()
        async with self._snap_lock:
            policy, watermark = self.learner.freeze()
            parent = self.learner.version
            try:
                row = await asyncio.to_thread(self.learner.write_snapshot, policy, watermark, parent=parent,
                                              note=note)
            except Exception as err:
                self.metrics.snapshot_failures.inc()
                if isinstance(err, StoreFenced):
                    self.fenced = str(err)
                raise
            self.learner.adopt_snapshot(row, watermark)
            self._snap_watermark = max(self._snap_watermark, watermark)
            self.metrics.version.set(row["version"])
            return row

    async def activate(self, version: int) -> dict:
        self._manages_models()
        async with self._snap_lock:
            policy, source = await asyncio.to_thread(self.learner.load_version, version)
            async with self._gate:  # no learning while the new head is written
                watermark = self.learner.watermark
                import copy
                row = await asyncio.to_thread(self.learner.write_snapshot, copy.deepcopy(policy), watermark,
                                              parent=version, note=f"activated v{version}")
                self.learner.install(policy, row["version"])
            self._snap_watermark = watermark
            self.metrics.version.set(row["version"])
            return row

    # ------------------------------------------------------------ decisions
    def _serves_requests(self) -> GroupWriter:
        """The writer of a ranker; HTTP 421 on the learner (it has none)."""
        if self.writer is None:
            raise HTTPException(421, "this service is the learner: send rank and reward requests to a ranker")
        return self.writer

    async def rank(self, req: RankInput) -> dict:
        writer = self._serves_requests()
        ids = req.ids
        if len(ids) > self.config.max_candidates:
            raise HTTPException(422, f"{len(ids)} candidates; at most {self.config.max_candidates} per request")
        if len(set(ids)) != len(ids):
            seen: set = set()
            for dup in ids:  # the first id met twice
                if dup in seen:
                    break
                seen.add(dup)
            raise HTTPException(422, f"duplicate candidate id {dup!r}")
        packed: tuple[bytes | None, int] | None = req.packed
        if req.excluded:
            excluded = set(req.excluded)
            keep = [j for j, i in enumerate(ids) if i not in excluded]
            if not keep:
                raise HTTPException(422, "every candidate is excluded")
            ids, feats = [ids[j] for j in keep], [req.features[j] for j in keep]
            packed = None  # the stored candidates are the eligible ones: packed again by the store
        else:
            feats = req.features
        if req.k > len(ids):
            raise HTTPException(422, f"k={req.k} exceeds the {len(ids)} eligible candidates")
        x = context_vector(self.learner.policy, req.context, self.config.policy)
        rec = recommend(self.learner.policy, x, ids, req.k, feats, self.config.policy)
        client_id = req.event_id is not None
        d = Decision(
            event_id=req.event_id if req.event_id is not None else uuid.uuid4().hex,
            context=[] if x is None else x.tolist(),
            candidates=list(zip(ids, feats)),
            items=cast(list[str], list(rec.items)), scores=_finite(rec.scores), propensities=rec.propensities.tolist(),
            model_version=self.learner.version_name,
            request_hash=req.fingerprint(x) if client_id else "-",
            packed=packed,
        )
        code, stored = await writer.decision(d)
        if code == CONFLICT:
            raise HTTPException(409, f"event {d.event_id!r} already exists with a different request")
        if code == SAME:
            assert stored is not None  # SAME comes with the stored decision
            d = stored
        else:
            self.metrics.decisions.inc()
        return {"event_id": d.event_id, "chosen_id": d.items[0], "model_version": d.model_version,
                "ranking": [{"id": i, "score": s, "probability": p}
                            for i, s, p in zip(d.items, d.scores, d.propensities)]}

    async def reward(self, event_id: str, body: RewardRequest, received: float) -> None:
        writer = self._serves_requests()
        problem = self.reward_domain.problem(body.value)
        if problem:
            raise HTTPException(422, f"value: the {self.config.policy} policy learns only from {self.reward_domain}: "
                                     f"{problem}, got {body.value}")
        code, info = await writer.reward(RewardIn(event_id, body.value, body.item_id, received=received))
        if code in (STORED, SAME):
            return
        if code == UNKNOWN:
            raise HTTPException(404, f"unknown event {event_id!r}")
        if code == CONFLICT:
            if info["is_default"]:
                raise HTTPException(409, f"the reward window of event {event_id!r} closed; the default reward "
                                         f"{info['value']} was joined")
            raise HTTPException(409, f"event {event_id!r} already has reward {info['value']}, not {body.value}")
        raise HTTPException(422, f"item_id {body.item_id!r} is not the item chosen for event {event_id!r} ({info!r})")

    async def stats(self, window_s: float, bucket_s: float) -> dict:
        timeline = await asyncio.to_thread(self.store.timeline, bucket_s, time.time() - window_s)
        models = await asyncio.to_thread(self.store.list_models)
        return {"model": self.learner.state(), "learning_lag_s": self.learner.lag_quantiles(),
                "ctr_recent": self.metrics.ctr(), "timeline": timeline, "bucket_s": bucket_s,
                "requests": self.metrics.route_summary(), "role": self.config.role,
                "models": [{"version": m["version"], "watermark": m["watermark"], "note": m["note"],
                            "created": m["ts"]} for m in models[:50]],
                "uptime_s": time.time() - self.started}


_FLOAT_MAX = float(np.finfo(np.float64).max)


def _finite(scores: np.ndarray) -> list[float]:
    """Scores as JSON numbers: an infinite index (UCB1's never-tried item) is reported as
    the largest double, +-1.797e308, where JSON would otherwise carry ``null``."""
    out = scores.tolist()
    if all(map(math.isfinite, out)):  # the usual case: ~1.7 us, where nan_to_num took ~19
        return out
    return np.nan_to_num(scores, nan=0.0, posinf=_FLOAT_MAX, neginf=-_FLOAT_MAX).tolist()
