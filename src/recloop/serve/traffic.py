"""Simulated users against a live service: the whole loop on one laptop.

Each user draws a context from the simulator's user distribution, asks the service
to rank the catalogue, "clicks" the chosen item with the simulator's true click
probability, and reports the reward. User ``i``'s context and click depend only on
``(seed, i)``, so a run is reproducible whatever the concurrency.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from recloop.core.registry import make


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
        rng = np.random.default_rng([self.seed, i])
        x = rng.normal(size=self.n_features) if self.contextual else None
        return (None if x is None else x.tolist()), rng

    def click(self, context: list[float] | None, item_id: str, rng: np.random.Generator) -> tuple[float, float]:
        p = self.world.expected_rewards(None if context is None else np.asarray(context))
        k = self.item_ids.index(item_id)
        return float(rng.random() < p[k]), float(p.max() - p[k])


async def play(url: str, n_users: int, *, users: SimulatedUsers | None = None, concurrency: int = 8,
               api_key: str | None = None, on_user: Callable[[int, float], None] | None = None,
               timeout: float = 30.0) -> TrafficResult:
    """Play ``n_users`` users against the service at ``url``; returns rewards and latencies."""
    import httpx

    users = users or SimulatedUsers()
    headers = {"X-API-Key": api_key} if api_key else {}
    out = TrafficResult()
    next_user = iter(range(n_users))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        for i in next_user:
            context, rng = users.user(i)
            body: dict[str, Any] = {"candidates": users.candidates}
            if context is not None:
                body["context"] = context
            t0 = time.perf_counter()
            r = await client.post("/v1/rank", json=body)
            out.rank_latency.append(time.perf_counter() - t0)
            if r.status_code != 200:
                out.errors[f"rank {r.status_code}"] = out.errors.get(f"rank {r.status_code}", 0) + 1
                continue
            ranked = r.json()
            reward, regret = users.click(context, ranked["chosen_id"], rng)
            t0 = time.perf_counter()
            r = await client.post(f"/v1/events/{ranked['event_id']}/reward", json={"value": reward})
            out.reward_latency.append(time.perf_counter() - t0)
            if r.status_code != 204:
                out.errors[f"reward {r.status_code}"] = out.errors.get(f"reward {r.status_code}", 0) + 1
                continue
            out.rewards.append(reward)
            out.regrets.append(regret)
            if on_user is not None:
                on_user(len(out.rewards), reward)

    t_start = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=timeout) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    out.seconds = time.perf_counter() - t_start
    return out
