"""The HTTP service: rank, reward, learn, snapshot, roll back, export, observe.

``create_app(ServeConfig(...))`` returns a FastAPI app; ``recloop serve`` runs it
under uvicorn. One process owns the store's writes and the live model (run one
uvicorn worker per store).
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import re
import logging
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path as Path_
from typing import Annotated, Any, MutableMapping, cast

import numpy as np
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ValidationError

from recloop.serve.config import ServeConfig
from recloop.serve.dashboard import DASHBOARD_HTML
from recloop.serve.guard import Guard, KeyCheck
from recloop.serve.inputs import context_vector, recommend
from recloop.serve.learner import OnlineLearner, SnapshotError, build_policy, probe_reward_domain
from recloop.serve.metrics import ServeMetrics
from recloop.serve.schemas import (EVENT_ID_PATTERN, ModelsResponse, Problem, RankInput, RankRequest,
                                   RankResponse, RewardRequest, fast_rank)
from recloop.serve.store import CONFLICT, SAME, STORED, UNKNOWN, Decision, Joined, RewardIn, Store
from recloop.serve.store import StoreFenced
from recloop.serve.writer import GroupWriter, StoreUnavailable, describe, renew_lease

log = logging.getLogger("recloop.serve")

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem} for code in (400, 401, 403, 404, 409, 413, 415, 421, 422, 503)}


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

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self.config.role == "ranker":
            await self._start_ranker()
        else:
            await self._start_learner()
        if self.config.freeze_gc:  # a server process (see ServeConfig.freeze_gc)
            # The writer thread takes the GIL back after each database call; with the
            # default 5 ms switch interval it waited that long behind request handling
            # every time, and each group commit (so each request) with it.
            sys.setswitchinterval(float(os.environ.get("RECLOOP_SWITCH_INTERVAL", "0.0005")))
            gc.collect()  # what is garbage now is collected, not frozen
            gc.freeze()

    async def _start_learner(self) -> None:
        """Role all (one process: rank, log, learn) or learner (orders and learns what rankers logged)."""
        # before replay: no other writer may be appending
        await asyncio.to_thread(self.store.claim_writer, self.config.lease_s)
        try:
            await asyncio.to_thread(self.learner.recover)
        except BaseException:
            await asyncio.to_thread(self.store.close)  # give the lease and the lock back: nothing was served
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
            await asyncio.sleep(every)
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


def create_app_from_env() -> FastAPI:
    """The app of one ``--workers N`` process: its config from ``RECLOOP_SERVE_CONFIG``."""
    import json
    import os
    params = json.loads(os.environ["RECLOOP_SERVE_CONFIG"])
    params["cors_origins"] = tuple(params.get("cors_origins", ()))
    return create_app(ServeConfig.from_env(**params))


def create_app(config: ServeConfig | None = None) -> FastAPI:
    """Build the service. Raises KeyError/ValueError/TypeError on a bad policy or config."""
    config = config or ServeConfig.from_env()
    svc = Service(config)
    personalizer: Any = None

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        await svc.start()
        try:
            await personalizer.start()
            try:
                yield
            finally:
                await personalizer.stop()
        finally:
            await svc.stop()

    app = _App(title="recloop", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
               description="Rank with a learning policy, log every decision with its propensity, "
                           "join rewards exactly once, learn online, snapshot and roll back.")
    app.state.service = svc
    _offline_docs(app)
    keys = KeyCheck(config.api_key, config.admin_key, insecure_admin=config.insecure_admin,
                    metrics_key=config.metrics_key)
    user, admin = Depends(keys.user), Depends(keys.admin)
    from recloop.serve.personalizer import install  # Azure Personalizer's API beside /v1
    personalizer = app.state.personalizer = install(app, config, keys)

    @app.exception_handler(HTTPException)
    @app.exception_handler(RequestValidationError)
    @app.exception_handler(StoreUnavailable)
    async def _problem(_req: Request, err: Exception) -> JSONResponse:
        status, payload = problem(err)
        return JSONResponse(payload, status_code=status, headers=getattr(err, "headers", None))

    # The two hot routes are answered by the Guard middleware (see hot_route below):
    # FastAPI's per-request dependency and routing machinery cost more CPU than the
    # decision itself. These definitions document them in the OpenAPI spec and share
    # the code path (Service.rank / Service.reward, `problem`) with the hot path.
    @app.post("/v1/rank", response_model=RankResponse, responses=_ERRORS, dependencies=[user],
              openapi_extra=_body_doc(RankRequest))
    async def rank(request: Request) -> JSONResponse:
        """Rank the candidates; the decision is stored before this answers."""
        return JSONResponse(await svc.rank(_parse_rank(await request.body())))

    @app.post("/v1/events/{event_id}/reward", status_code=204, responses=_ERRORS, dependencies=[user],
              openapi_extra=_body_doc(RewardRequest))
    async def reward(event_id: Annotated[str, Path(pattern=EVENT_ID_PATTERN)], request: Request) -> Response:
        """Join a reward to a decision: same reward again is fine, a different one is 409."""
        received = time.perf_counter()
        await svc.reward(event_id, _parse(RewardRequest, await request.body()), received)
        return Response(status_code=204)

    async def hot_route(method: str, path: str, headers: list, body: bytes) -> tuple[str, int, Any] | None:
        """Answer rank/reward without FastAPI's machinery: ``(route, status, payload)``, or
        None for every other request."""
        if method != "POST":
            return None
        if path == "/v1/rank":
            route = "/v1/rank"
        elif path.startswith("/v1/events/") and path.endswith("/reward") and path.count("/") == 4:
            route = "/v1/events/{event_id}/reward"
        else:
            return await personalizer.hot_route(method, path, headers, body)
        received = time.perf_counter()
        try:
            keys.check(_header_value(headers, b"x-api-key"), admin=False)
            if route == "/v1/rank":
                return route, 200, await svc.rank(_parse_rank(body))
            event_id = path[len("/v1/events/"):-len("/reward")]
            if not _EVENT_ID.match(event_id):
                raise HTTPException(422, f"path.event_id: must match {EVENT_ID_PATTERN}")
            await svc.reward(event_id, _parse(RewardRequest, body), received)
            return route, 204, None
        except (HTTPException, RequestValidationError, StoreUnavailable) as err:
            return (route, *problem(err))

    @app.get("/v1/models", response_model=ModelsResponse, responses=_ERRORS, dependencies=[admin])
    async def list_models() -> dict:
        rows = await asyncio.to_thread(svc.store.list_models)
        return {"active": svc.learner.version, "watermark": svc.learner.watermark,
                "models": [{"version": r["version"], "name": f"v{r['version']}", "watermark": r["watermark"],
                            "parent": r["parent"], "note": r["note"], "sha256": r["sha256"], "created": r["ts"],
                            "stored": bool(r["stored"]),
                            "active": r["version"] == svc.learner.version} for r in rows]}

    @app.post("/v1/models/snapshot", status_code=201, responses=_ERRORS, dependencies=[admin])
    async def snapshot() -> dict:
        """Save the live model into the store now (checksummed, with its watermark)."""
        row = await svc.snapshot("manual")
        return {k: row[k] for k in ("version", "watermark", "sha256", "parent", "note")}

    @app.post("/v1/models/{version}/activate", responses=_ERRORS, dependencies=[admin])
    async def activate(version: Annotated[int, Path(ge=0, le=2**31 - 1)]) -> dict:
        """Serve snapshot ``version`` again (roll back or forward); learning continues from it."""
        try:
            row = await svc.activate(version)
        except KeyError as err:
            raise HTTPException(404, str(err.args[0])) from None
        except (SnapshotError, ValueError) as err:
            raise HTTPException(409, str(err)) from None
        return {k: row[k] for k in ("version", "watermark", "sha256", "parent", "note")}

    @app.get("/v1/logs", responses={200: {"content": {"application/vnd.apache.parquet": {}}}, **_ERRORS},
             dependencies=[admin])
    async def logs(since: Annotated[str | None, Query(max_length=64)] = None,
                   limit: Annotated[int | None, Query(ge=1, le=10_000_000)] = None) -> Response:
        """Logged feedback (DESIGN.md schema) as Parquet: decisions at or after ``since``."""
        from recloop.serve.export import logs_table, parse_since, to_parquet_bytes  # pyarrow only when asked
        try:
            t = parse_since(since)
        except ValueError as err:
            raise HTTPException(422, str(err)) from None
        rows = await asyncio.to_thread(svc.store.logs, t, limit)
        data = await asyncio.to_thread(lambda: to_parquet_bytes(logs_table(rows)))
        return Response(data, media_type="application/vnd.apache.parquet",
                        headers={"Content-Disposition": 'attachment; filename="recloop-logs.parquet"'})

    @app.get("/v1/stats", responses=_ERRORS, dependencies=[user])
    async def stats(window: Annotated[float, Query(gt=0, le=30 * 86400)] = 900.0,
                    bucket: Annotated[float, Query(ge=1, le=86400)] = 10.0) -> dict:
        """What the dashboard draws: traffic and CTR per time bucket, model versions, learning lag."""
        return await svc.stats(window, bucket)

    @app.get("/healthz")
    async def healthz() -> dict:
        """Alive: the process answers. (Whether it can serve: /readyz.)"""
        return {"status": "ok", "model_version": svc.learner.version, "watermark": svc.learner.watermark,
                "pending": len(svc.learner.pending)}

    @app.get("/readyz", responses={503: {"description": "not ready; ``checks`` says why"}})
    async def readyz(request: Request) -> JSONResponse:
        """Ready to serve: the store takes writes (the lease heartbeat and the last commit
        succeeded), this service holds the learner lease, the model is loaded, and the
        oldest unlearned reward is within ``max_learning_lag_s``. Errors name only their
        kind unless the request carries the admin key (or admin routes are open): their
        messages can hold hosts, paths and table names."""
        ok, checks = svc.readiness()
        try:
            keys.check(request.headers.get("x-api-key"), admin=True)
        except HTTPException:
            for c in checks.values():
                if c.get("error"):
                    c["error"] = c["error"].split(":", 1)[0] + " (details: in the log, or with the admin key)"
        failing = [f"{name}: {c.get('error') or 'failing'}" for name, c in checks.items() if not c["ok"]]
        body = {"status": "ready" if ok else "not ready", "checks": checks}
        if failing:
            body["error"] = "; ".join(failing)
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        keys.check_metrics(request.headers.get("x-api-key"), request.headers.get("authorization"))
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
        return Response(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard() -> HTMLResponse:
        return HTMLResponse(DASHBOARD_HTML, headers={"Content-Security-Policy": _CSP})

    async def everything_else(scope: dict, receive: Any, send: Any) -> None:
        await FastAPI.__call__(app, scope, receive, send)

    front: Any = Guard(everything_else, max_body=config.max_body_bytes, metrics=svc.metrics, hot_route=hot_route)
    if config.cors_origins:  # outermost, so the hot routes get CORS headers too
        from fastapi.middleware.cors import CORSMiddleware
        front = CORSMiddleware(front, allow_origins=list(config.cors_origins),
                               allow_methods=["GET", "POST", "PUT", "DELETE"],  # PUT/DELETE: Personalizer's admin
                               allow_headers=["X-API-Key", "Ocp-Apim-Subscription-Key", "Content-Type"])
    app.front = front
    _document_bodies(app, (RankRequest, RewardRequest))
    return app


_DOC_ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
               "redoc.standalone.js": "text/javascript", "favicon.png": "image/png"}


def _offline_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc from assets shipped in a package (fastapi-offline,
    MIT), not from a CDN: the API pages work on a machine without internet access."""
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
    from fastapi.responses import FileResponse

    try:
        import fastapi_offline
        assets = Path_(fastapi_offline.__file__).parent / "static"
    except ImportError:
        assets = None
        log.warning("fastapi-offline is not installed: /docs and /redoc load their scripts from a CDN")

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        if assets is None:
            return get_swagger_ui_html(openapi_url="openapi.json", title="recloop API")
        return get_swagger_ui_html(openapi_url="openapi.json", title="recloop API",
                                   swagger_js_url="docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="docs-assets/swagger-ui.css",
                                   swagger_favicon_url="docs-assets/favicon.png")

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        if assets is None:
            return get_redoc_html(openapi_url="openapi.json", title="recloop API")
        return get_redoc_html(openapi_url="openapi.json", title="recloop API", with_google_fonts=False,
                              redoc_js_url="docs-assets/redoc.standalone.js", redoc_favicon_url="docs-assets/favicon.png")

    @app.get("/docs-assets/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        if assets is None or name not in _DOC_ASSETS:
            raise HTTPException(404, f"no documentation asset {name!r}")
        return FileResponse(assets / name, media_type=_DOC_ASSETS[name],
                            headers={"Cache-Control": "public, max-age=86400"})


class _App(FastAPI):
    """FastAPI with a front door: every HTTP request meets ``front`` (the Guard: body
    limit, metrics, the two hot routes) before FastAPI's own middleware stack, which
    would otherwise cost a rank request four more ASGI layers."""

    front: Any = None

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.front is not None:
            await self.front(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def problem(err: Exception) -> tuple[int, dict]:
    """Status and body of every error answer: ``{"error": message[, "detail": ...]}``."""
    if isinstance(err, HTTPException):
        return err.status_code, {"error": str(err.detail)}
    if isinstance(err, StoreUnavailable):
        return 503, {"error": f"store unavailable ({err}); nothing was stored, retry"}
    errors = err.errors() if isinstance(err, RequestValidationError) else []
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, {"error": "malformed JSON body"}
    detail = [{"loc": _loc(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in errors[:20]]
    # for a union (context: vector or dict) report the branch that got furthest
    first = max(detail, key=lambda e: len(e["loc"])) if detail else {"loc": [], "msg": "invalid request"}
    return 422, {"error": f"{'.'.join(first['loc'])}: {first['msg']}", "detail": detail}


_EVENT_ID = re.compile(EVENT_ID_PATTERN)
_FLOAT_MAX = float(np.finfo(np.float64).max)


def _finite(scores: np.ndarray) -> list[float]:
    """Scores as JSON numbers: an infinite index (UCB1's never-tried item) is reported as
    the largest double, +-1.797e308, where JSON would otherwise carry ``null``."""
    return np.nan_to_num(scores, nan=0.0, posinf=_FLOAT_MAX, neginf=-_FLOAT_MAX).tolist()


def _header_value(headers: list, name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


def _parse(model: type[BaseModel], raw: bytes) -> Any:
    try:
        return model.model_validate_json(raw)
    except ValidationError as err:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in err.errors()]) from None


def _parse_rank(raw: bytes) -> RankInput:
    """The usual request the quick way; everything else (and every error) through pydantic."""
    return fast_rank(raw) or RankInput.from_model(_parse(RankRequest, raw))


def _body_doc(model: type[BaseModel]) -> dict:
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def _document_bodies(app: FastAPI, models: tuple) -> None:
    """Put the hand-parsed request bodies' JSON schemas into the OpenAPI components."""
    generate = app.openapi

    def openapi() -> dict:
        spec = generate()
        comps = spec.setdefault("components", {}).setdefault("schemas", {})
        for model in models:
            if model.__name__ not in comps:
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                comps.update(schema.pop("$defs", {}))
                comps[model.__name__] = schema
        return spec

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to replace the schema


def _loc(loc: Any) -> list[str]:
    """Location of a validation error without pydantic's union-branch type names."""
    return [str(p) for p in loc if not (isinstance(p, str) and ("[" in p or "(" in p))]


# The page loads nothing from elsewhere: only its own inline script and same-origin fetches.
_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:"
