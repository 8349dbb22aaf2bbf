"""The HTTP service: rank, reward, learn, snapshot, roll back, export, observe.

``create_app(ServeConfig(...))`` returns a FastAPI app; ``recloop serve`` runs it
under uvicorn. One process owns the store's writes and the live model (run one
uvicorn worker per store).
"""

from __future__ import annotations

import asyncio
import re
import logging
import time
from contextlib import asynccontextmanager
from pathlib import Path as Path_
from typing import Annotated, Any, MutableMapping

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ValidationError

from recloop.serve.config import ServeConfig
from recloop.serve.dashboard import DASHBOARD_HTML
from recloop.serve.guard import Guard, KeyCheck
from recloop.serve.learner import SnapshotError
from recloop.serve.schemas import (EVENT_ID_PATTERN, ModelsResponse, Problem, RankInput, RankRequest,
                                   RankResponse, RewardRequest, fast_rank)
from recloop.serve.service import Service
from recloop.serve.writer import StoreUnavailable

log = logging.getLogger("recloop.serve")

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem} for code in (400, 401, 403, 404, 409, 413, 415, 421, 422, 503)}


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
    if config.role != "ranker":  # one learner for both: it claims both leases, or neither
        svc.lease_partners.append(personalizer.store)

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
