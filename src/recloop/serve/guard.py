"""What stands in front of every route: body size limit, request metrics, API keys."""

from __future__ import annotations

import hmac
import json
import re
import time
from typing import Any

import orjson

from fastapi import HTTPException, Security
from fastapi.security import APIKeyHeader

from recloop.serve.metrics import ServeMetrics

_BODY_METHODS = {b"POST", b"PUT", b"PATCH", "POST", "PUT", "PATCH"}


class Guard:
    """Pure ASGI middleware (no per-request task, unlike BaseHTTPMiddleware).

    Reads the body up to ``max_body`` bytes before the app sees it, so an oversized
    body is refused with 413 whether or not it announces its length; times the
    request and counts it under its route template (not its raw path: no event ids
    as label values).
    """

    def __init__(self, app: Any, *, max_body: int, metrics: ServeMetrics, hot_route: Any = None):
        self.app = app
        self.max_body = max_body
        self.metrics = metrics
        self.hot_route = hot_route  # async (method, path, headers, body) -> (route, status, payload) | None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = [500]

        async def send_status(msg: dict) -> None:
            if msg["type"] == "http.response.start":
                status[0] = msg["status"]
            await send(msg)

        try:
            if scope["method"] in _BODY_METHODS:
                body = _json_only(scope) or await self._read_body(scope, receive)
                if isinstance(body, tuple):
                    status[0] = body[0]
                    await _problem(send, *body)
                    return
                if self.hot_route is not None:
                    hot = await self.hot_route(scope["method"], scope["path"], scope["headers"], body)
                    if hot is not None:
                        route, status[0], payload = hot
                        scope["route"] = _Named(route)
                        await _answer(send, status[0], payload)
                        return
                done = False

                async def replay() -> dict:
                    nonlocal done
                    if not done:
                        done = True
                        return {"type": "http.request", "body": body, "more_body": False}
                    return await receive()

                await self.app(scope, replay, send_status)
            else:
                await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            self.metrics.request(getattr(route, "path", "unmatched"), scope["method"], status[0],
                                 time.perf_counter() - t0)

    async def _read_body(self, scope: dict, receive: Any) -> bytes | tuple[int, str]:
        for key, value in scope.get("headers", ()):
            if key == b"content-length":
                try:
                    n = int(value)
                except ValueError:
                    return 400, "Content-Length is not a number"
                if n > self.max_body:
                    return 413, f"body of {n} bytes exceeds the limit of {self.max_body}"
        chunks, size = [], 0
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return 400, "client disconnected"
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return 413, f"body exceeds the limit of {self.max_body} bytes"
            chunks.append(chunk)
            if not msg.get("more_body", False):
                return b"".join(chunks)


def _json_only(scope: dict) -> tuple[int, str] | None:
    """415 unless the request says ``Content-Type: application/json``.

    Every state-changing route takes JSON. A browser sends a cross-site request without
    asking first (no CORS preflight) only with a form or text/plain type, or with no
    body and no type at all, so demanding application/json keeps any web page a
    user visits from rolling the model back through an open or cookie-less service.
    """
    for key, value in scope.get("headers", ()):
        if key == b"content-type":
            if value.split(b";", 1)[0].strip().lower() == b"application/json":
                return None
            break
    if _NO_JSON.match(scope.get("path", "")) or (scope["method"] == "PUT" and scope.get("path") == "/personalizer/model"):
        return None  # Personalizer's client sends activate with no body and a model as octet-stream
    return 415, "Content-Type must be application/json (state-changing routes take JSON only)"


_NO_JSON = re.compile(r"^/personalizer/(multislot/)?events/[^/]+/activate$")


class _Named:
    __slots__ = ("path",)

    def __init__(self, path: str):
        self.path = path


async def _answer(send: Any, status: int, payload: Any) -> None:
    body = b"" if payload is None else orjson.dumps(payload)
    headers = [(b"content-length", str(len(body)).encode())]
    if payload is not None:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _problem(send: Any, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="rank/reward key, or the admin key")


class KeyCheck:
    """API keys compared in constant time; never echoed or logged.

    ``api_key=None`` leaves rank/reward open. Admin routes (models, logs) need
    ``admin_key``, full stop: without one they are refused, unless ``insecure_admin``
    opens them to anyone (development only; the CLI warns loudly). ``metrics_key``
    guards ``/metrics`` (the admin key works there too); None leaves it open.
    """

    def __init__(self, api_key: str | None, admin_key: str | None, *, insecure_admin: bool = False,
                 metrics_key: str | None = None):
        self._user = api_key.encode() if api_key else None
        self._admin = admin_key.encode() if admin_key else None
        self._metrics = metrics_key.encode() if metrics_key else None
        self.insecure_admin = insecure_admin and not admin_key

    @staticmethod
    def _match(given: bytes, key: bytes | None) -> bool:
        return key is not None and hmac.compare_digest(given, key)

    def check(self, key: str | None, *, admin: bool) -> None:
        """Raise 401 (missing or unknown key) or 403 (a rank key on an admin route,
        or admin routes disabled)."""
        if admin:
            if self._admin is None:
                if self.insecure_admin:
                    return
                raise HTTPException(403, "admin routes are disabled: set RECLOOP_ADMIN_KEY (or start with "
                                         "--insecure-admin, for development only)")
            if not key:
                raise HTTPException(401, "missing X-API-Key header (admin key needed)")
            given = key.encode()
            ok_admin, ok_user = self._match(given, self._admin), self._match(given, self._user)  # no short cut
            if ok_admin:
                return
            if ok_user:
                raise HTTPException(403, "this key may rank and reward, not manage models or read logs")
            raise HTTPException(401, "invalid API key")
        if self._user is None:
            return
        if not key:
            raise HTTPException(401, "missing X-API-Key header")
        given = key.encode()
        ok_user, ok_admin = self._match(given, self._user), self._match(given, self._admin)
        if ok_user or ok_admin:
            return
        raise HTTPException(401, "invalid API key")

    def check_metrics(self, key: str | None, authorization: str | None) -> None:
        """``/metrics``: the metrics key (or admin key) as ``X-API-Key`` or ``Authorization: Bearer``
        (what Prometheus' ``authorization`` scrape setting sends)."""
        if self._metrics is None:
            return
        if not key and authorization and authorization[:7].lower() == "bearer ":
            key = authorization[7:].strip()
        if not key:
            raise HTTPException(401, "missing key: /metrics needs the metrics key")
        given = key.encode()
        ok_m, ok_a = self._match(given, self._metrics), self._match(given, self._admin)
        if not (ok_m or ok_a):
            raise HTTPException(401, "invalid metrics key")

    async def user(self, key: str | None = Security(_header)) -> None:
        self.check(key, admin=False)

    async def admin(self, key: str | None = Security(_header)) -> None:
        self.check(key, admin=True)
