"""Simulated users against a live service: the whole loop on one laptop.

Each user draws a context from the simulator's user distribution, asks the service
to rank the catalogue, "clicks" the chosen item with the simulator's true click
probability, and reports the reward. User ``i``'s context and click depend only on
``(seed, i)``, so a run is reproducible whatever the concurrency.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit

import numpy as np

from recloop.core.registry import make
from recloop.core.seeding import generator


def run_timed(main: Callable[[], Any]) -> Any:
    """Run the load client's coroutine ``main()`` (on uvloop when installed) with this
    process's garbage collector stopped.

    A load client's own full collections stop its event loop for 15-35 ms (two per
    15 s run at 2,000 requests/s, seen with ``gc.callbacks``), and every request in
    flight would report that pause as the service's latency. What exists before the
    run (the prepared workload) is frozen out of the collector's reach; what the run
    makes (tasks, responses: no cycles) is freed by reference counting.
    """
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        try:
            import uvloop
        except ImportError:
            return asyncio.run(main())
        return uvloop.run(main())
    finally:
        gc.enable()
        gc.unfreeze()


@dataclass
class TrafficResult:
    rewards: list[float] = field(default_factory=list)        # in completion order
    regrets: list[float] = field(default_factory=list)        # best click prob - chosen click prob
    rank_latency: list[float] = field(default_factory=list)   # seconds
    reward_latency: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ctr(self) -> float:
        return float(np.mean(self.rewards)) if self.rewards else 0.0

    def windows(self, n: int) -> list[float]:
        """Mean reward of consecutive blocks of ``n`` users (CTR as it climbs)."""
        r = np.asarray(self.rewards)
        return [float(r[i:i + n].mean()) for i in range(0, len(r) - n + 1, n)]


class SimulatedUsers:
    """Users and clicks from a registered bandit world (``contextual`` by default)."""

    def __init__(self, env: str = "contextual", *, n_arms: int = 20, n_features: int = 16, world_seed: int = 0,
                 seed: int = 0, with_features: bool = True):
        params: dict[str, Any] = {"n_arms": n_arms, "world_seed": world_seed}
        if env in ("contextual", "contextual-bandit"):
            params["n_features"] = n_features
        self.world = make("env", env, **params)
        self.contextual = hasattr(self.world, "item_features")
        self.n_features = n_features if self.contextual else 0
        self.seed = seed
        self.item_ids = [f"item-{k}" for k in range(n_arms)]
        feats = self.world.item_features if self.contextual and with_features else None
        self.candidates = [{"id": i, **({"features": feats[k].tolist()} if feats is not None else {})}
                           for k, i in enumerate(self.item_ids)]

    def user(self, i: int) -> tuple[list[float] | None, np.random.Generator]:
        rng = generator(self.seed, "user", i)
        x = rng.normal(size=self.n_features) if self.contextual else None
        return (None if x is None else x.tolist()), rng

    def click(self, context: list[float] | None, item_id: str, rng: np.random.Generator) -> tuple[float, float]:
        p = self.world.expected_rewards(None if context is None else np.asarray(context))
        k = self.item_ids.index(item_id)
        return float(rng.random() < p[k]), float(p.max() - p[k])


class HttpConnection:
    """One keep-alive HTTP/1.1 connection over asyncio streams: a tenth of httpx's CPU
    per request, which matters when client and service share two cores."""

    def __init__(self, host: str, port: int, headers: dict[str, str]):
        self.host, self.port = host, port
        self._extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._streams: tuple | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        writer.write((f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                      f"{self._extra}Content-Length: {len(body)}\r\n\r\n").encode() + body)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length, close = 0, False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            data = await reader.readexactly(length) if length else b""
        except (OSError, asyncio.IncompleteReadError):
            self.close()
            raise
        if close:
            self.close()
        return int(head[9:12]), data

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


async def play(url: str, n_users: int, *, users: SimulatedUsers | None = None, concurrency: int = 8,
               api_key: str | None = None, on_user: Callable[[int, float], None] | None = None) -> TrafficResult:
    """Play ``n_users`` users against the service at ``url`` (``http://host:port``)."""
    parsed = urlsplit(url)
    if parsed.scheme != "http" or not parsed.hostname:
        raise ValueError(f"url must look like http://host:port, got {url!r} (put TLS in front, not in here)")
    users = users or SimulatedUsers()
    headers = {"X-API-Key": api_key} if api_key else {}
    out = TrafficResult()
    next_user = iter(range(n_users))
    cands = json.dumps(users.candidates)

    async def worker() -> None:
        conn = HttpConnection(parsed.hostname, parsed.port or 80, headers)
        try:
            for i in next_user:
                context, rng = users.user(i)
                body = f'{{"candidates": {cands}' + (f', "context": {json.dumps(context)}}}' if context else "}")
                t0 = time.perf_counter()
                status, data = await conn.post("/v1/rank", body.encode())
                out.rank_latency.append(time.perf_counter() - t0)
                if status != 200:
                    out.errors[f"rank {status}"] = out.errors.get(f"rank {status}", 0) + 1
                    continue
                ranked = json.loads(data)
                reward, regret = users.click(context, ranked["chosen_id"], rng)
                t0 = time.perf_counter()
                status, _ = await conn.post(f"/v1/events/{ranked['event_id']}/reward", b'{"value": %r}' % reward)
                out.reward_latency.append(time.perf_counter() - t0)
                if status != 204:
                    out.errors[f"reward {status}"] = out.errors.get(f"reward {status}", 0) + 1
                    continue
                out.rewards.append(reward)
                out.regrets.append(regret)
                if on_user is not None:
                    on_user(len(out.rewards), reward)
        finally:
            conn.close()

    t_start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    out.seconds = time.perf_counter() - t_start
    return out
