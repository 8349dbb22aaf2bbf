"""What stands in front of every route: body size limit, request metrics, API keys."""

from __future__ import annotations

import hmac
import json
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
                body = await self._read_body(scope, receive)
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
    """API keys compared in constant time. ``api_key=None`` leaves rank/reward open;
    ``admin_key=None`` makes model management need the rank key (or nothing, if that
    is unset too). Keys are never echoed or logged."""

    def __init__(self, api_key: str | None, admin_key: str | None):
        self._user = api_key.encode() if api_key else None
        self._admin = admin_key.encode() if admin_key else None

    @staticmethod
    def _match(given: bytes, key: bytes | None) -> bool:
        return key is not None and hmac.compare_digest(given, key)

    def check(self, key: str | None, *, admin: bool) -> None:
        """Raise 401 (missing or unknown key) or 403 (a rank key on an admin route)."""
        required = (self._admin or self._user) if admin else self._user
        if required is None:
            return
        if not key:
            raise HTTPException(401, "missing X-API-Key header" + (" (admin key needed)" if admin else ""))
        given = key.encode()
        ok_user, ok_admin = self._match(given, self._user), self._match(given, self._admin)  # no short cut
        if admin:
            if self._match(given, required):
                return
            if ok_user:
                raise HTTPException(403, "this key may rank and reward, not manage models or read logs")
        elif ok_user or ok_admin:
            return
        raise HTTPException(401, "invalid API key")

    async def user(self, key: str | None = Security(_header)) -> None:
        self.check(key, admin=False)

    async def admin(self, key: str | None = Security(_header)) -> None:
        self.check(key, admin=True)
