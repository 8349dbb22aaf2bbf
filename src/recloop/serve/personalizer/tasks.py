"""The Personalizer loop's start, stop and background work, per role of the service.

- ``all`` (one process): a group-commit writer stores decisions and joins rewards;
  the loop learns what it joins, snapshots (``modelExportFrequency``), closes reward
  windows, applies log retention and renews its writer lease.
- ``learner``: no writer; it numbers and learns what the rankers put in the inbox
  (:mod:`~recloop.serve.personalizer.scaleout`), closes reward windows through the
  inbox, and publishes snapshots, which are the models the rankers serve.
- ``ranker``: a writer in ranker mode (decisions, held rewards, inbox), serving the
  newest published model and the newest service settings within ``model_refresh_s``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from recloop.serve.inbox import join_as_ranker
from recloop.serve.personalizer.schemas import ServiceSettings
from recloop.serve.store import StoreFenced
from recloop.serve.writer import GroupWriter, describe, renew_lease

if TYPE_CHECKING:
    from recloop.serve.personalizer.loop import PersonalizerLoop

log = logging.getLogger("recloop.serve.personalizer")


class Tasks:
    """Starts and stops ``pz`` for its role and runs its background loops."""

    def __init__(self, pz: PersonalizerLoop):
        self.pz = pz
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        pz = self.pz
        if pz.role == "ranker":
            await self._start_ranker()
            return
        await asyncio.to_thread(pz.store.create)
        await asyncio.to_thread(pz.store.claim_writer, pz.config.lease_s)
        await self._load_settings()
        pz.learner.policy = pz.learner.new_policy()
        await asyncio.to_thread(pz.learner.recover)
        pz.learner.params = pz.learner.policy.get_params()
        if pz.role == "all":  # rewards sent before activation, held in this process's memory (see reward())
            pz.held = set(await asyncio.to_thread(pz.store.open_deferred, time.time() - pz.settings.reward_wait_s))
        rows = await asyncio.to_thread(pz.store.list_models)
        origin = next((r for r in rows if r["note"].split(" ")[0] in ("initial", "reset", "imported", "applied")),
                      None)
        pz.model_created = origin["ts"] if origin else time.time()
        pz.model_modified = rows[0]["ts"] if rows else time.time()
        loops = [self._learn_loop, self._snapshot_loop, self._sweep_loop, self._retention_loop, self._lease_loop]
        if pz.role == "all":
            pz.writer = GroupWriter(pz.store, asyncio.get_running_loop(), pz.on_joined)
            pz.writer.start()
        else:
            loops.append(self._inbox_loop)
        self._tasks = [asyncio.create_task(f(), name=f"pz{f.__name__}") for f in loops]

    async def _start_ranker(self) -> None:
        pz = self.pz
        await join_as_ranker(pz.store, pz.learner, "Personalizer model")
        await self._load_settings()
        pz.writer = GroupWriter(pz.store, asyncio.get_running_loop(), pz.on_joined)
        pz.writer.start()
        self._tasks = [asyncio.create_task(self._follow_loop(), name="pz-follow")]

    async def _load_settings(self) -> None:
        pz = self.pz
        saved = await asyncio.to_thread(pz.store.get_setting, "service")
        if saved:
            pz.settings = ServiceSettings.from_dict(saved)
        policy = await asyncio.to_thread(pz.store.get_setting, "policy")
        if policy:
            pz.policy_name, pz.learner.params = policy["name"], policy["params"]

    async def stop(self) -> None:
        pz = self.pz
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if pz.writer is not None:
            await asyncio.to_thread(pz.writer.stop)
        await asyncio.sleep(0)
        if pz.role != "ranker":
            while pz.learner.learn_pending(10_000):
                pass
            if pz.learner.watermark > pz.learner.snap_watermark:
                await pz.snapshot("shutdown")
        pz.store.close()

    # ------------------------------------------------------------ learner (and all)
    async def _learn_loop(self) -> None:
        pz = self.pz
        while True:
            await pz.wake.wait()
            pz.wake.clear()
            await asyncio.sleep(pz.config.learn_interval_s)
            while pz.learner.pending:
                async with pz.gate:
                    if pz.learner.learn_pending(256):
                        pz.model_modified = time.time()
                await asyncio.sleep(0)

    async def _inbox_loop(self) -> None:
        """The learner numbers what rankers logged (in its commit order), then learns it."""
        from recloop.serve.personalizer.scaleout import take_inbox_joined
        pz = self.pz
        while True:
            try:
                joined = await asyncio.to_thread(take_inbox_joined, pz.store, 5000)
            except Exception as err:  # noqa: BLE001 - fenced or the store is down: retry, and say so
                log.error("taking Personalizer rewards from the inbox failed: %s", describe(err))
                await asyncio.sleep(1.0 if isinstance(err, StoreFenced) else 0.5)
                continue
            if joined:
                pz.on_joined(joined)
            else:
                await asyncio.sleep(max(pz.config.learn_interval_s, 0.02))

    async def _snapshot_loop(self) -> None:
        """Personalizer's modelExportFrequency: how often the learned model is written (and
        published to rankers). A new frequency applies within a second, not after the old period."""
        pz = self.pz
        last = time.monotonic()
        while True:
            await asyncio.sleep(min(pz.settings.model_export_s, 1.0))
            if time.monotonic() - last < pz.settings.model_export_s:
                continue
            last = time.monotonic()
            if pz.learner.watermark > pz.learner.snap_watermark:
                try:
                    await pz.snapshot("periodic")
                except Exception as err:  # noqa: BLE001 - keep serving; the next period tries again
                    log.error("periodic snapshot failed: %s", err)

    async def _sweep_loop(self) -> None:
        pz = self.pz
        while True:
            await asyncio.sleep(min(max(pz.settings.reward_wait_s / 4, 0.2), 5.0))
            try:
                await pz.close_windows()
            except Exception as err:  # noqa: BLE001
                log.error("reward-window sweep failed: %s", err)

    async def _retention_loop(self) -> None:
        pz = self.pz
        while True:
            await asyncio.sleep(600)
            days = pz.settings.log_retention_days
            if days > 0:
                try:
                    await pz.delete_logs(before=time.time() - days * 86400)
                except Exception as err:  # noqa: BLE001
                    log.error("log retention failed: %s", err)

    async def _lease_loop(self) -> None:
        """Keep the writer lease of the Personalizer tables while idle (commits renew it too)."""
        pz = self.pz
        while True:
            every = pz.config.lease_s / 3
            await asyncio.sleep(every / 2)  # renewals at most lease_s/2 apart (see Service._lease_loop)
            if not pz.store.lease_due(every):
                continue  # a commit just renewed it
            try:
                await renew_lease(pz.store, pz.writer)
            except Exception as err:  # noqa: BLE001 - the next write fails safe (fenced) if the lease is lost
                log.error("Personalizer store lease renewal failed: %s", err)

    # ------------------------------------------------------------ ranker
    async def _follow_loop(self) -> None:
        """A ranker serves the newest published model and service settings within ``model_refresh_s``."""
        pz = self.pz
        while True:
            await asyncio.sleep(pz.config.model_refresh_s)
            try:
                found = await asyncio.to_thread(pz.learner.fetch_published)
                if found is not None:
                    pz.learner.adopt_published(*found)
                await self._load_settings()
            except Exception as err:  # noqa: BLE001 - keep serving what we have
                log.error("Personalizer model refresh failed: %s", describe(err))
