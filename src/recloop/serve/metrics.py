"""Prometheus metrics of one service instance (its own registry, so several apps can coexist)."""

from __future__ import annotations

from bisect import bisect_left
from collections import deque

import numpy as np

from prometheus_client import (GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR, CollectorRegistry, Counter, Gauge,
                               Histogram)

# Latency buckets fine enough to read a p99 around the 10 ms goal.
_FAST = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_LAG = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServeMetrics:
    def __init__(self, ctr_window: int = 1000):
        self.registry = CollectorRegistry()
        r = self.registry
        # the default process (CPU, memory, open files), GC and platform collectors, in
        # this service's own registry (the process has one of each; reading is free)
        for collector in (PROCESS_COLLECTOR, GC_COLLECTOR, PLATFORM_COLLECTOR):
            r.register(collector)
        self.requests = Counter("recloop_requests", "HTTP requests", ["route", "method", "status"], registry=r)
        self.latency = Histogram("recloop_request_duration_seconds", "HTTP request latency", ["route"],
                                 buckets=_FAST, registry=r)
        self.decisions = Counter("recloop_decisions", "decisions stored", registry=r)
        self.rewards = Counter("recloop_rewards", "rewards joined", ["kind"], registry=r)
        # a counter's own name gets _total; one called _sum would clash with histogram series
        self.reward_sum = Counter("recloop_reward_value", "sum of joined reward values", registry=r)
        self.lag = Histogram("recloop_learning_lag_seconds", "reward received -> policy updated", buckets=_LAG,
                             registry=r)
        self.watermark = Gauge("recloop_model_watermark", "last reward sequence number learned", registry=r)
        self.pending = Gauge("recloop_learning_pending", "joined rewards waiting to be learned", registry=r)
        self.version = Gauge("recloop_model_version", "active model version", registry=r)
        self.batch = Histogram("recloop_store_batch_size", "requests per store transaction",
                               buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512), registry=r)
        self.store_failures = Counter("recloop_store_write_failures", "store transactions that failed (rolled "
                                      "back; their requests retried one by one or answered 503)", registry=r)
        self.skipped = Counter("recloop_rewards_skipped", "joined rewards the policy could not learn from",
                               registry=r)
        self.snapshot_failures = Counter("recloop_snapshot_failures", "snapshots that could not be written",
                                         registry=r)
        self.ready = Gauge("recloop_ready", "1 when /readyz answers 200", registry=r)
        self._summary: dict[str, list] = {}  # route -> [requests, 503s, latency bucket counts] (dashboard)
        self._children: dict[tuple, tuple] = {}  # labelled series by (route, method, status): labels() is slow
        self._explicit, self._default = self.rewards.labels("explicit"), self.rewards.labels("default")
        self._recent: deque[float] = deque(maxlen=ctr_window)
        ctr = Gauge("recloop_ctr", f"mean reward of the last {ctr_window} joined events", registry=r)
        ctr.set_function(self.ctr)

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        series = self._children.get(key)
        if series is None:
            series = self._children[key] = (self.requests.labels(route, method, str(status)),
                                             self.latency.labels(route))
        series[0].inc()
        series[1].observe(seconds)
        summary = self._summary.get(route)
        if summary is None:
            summary = self._summary[route] = [0, 0, [0] * (len(_FAST) + 1)]
        summary[0] += 1
        summary[1] += status == 503
        summary[2][bisect_left(_FAST, seconds)] += 1

    def route_summary(self) -> dict[str, dict]:
        """Per route since start: requests, the share answered 503, latency p50/p99 (the upper
        edge of the histogram bucket that holds the quantile; None above the last edge)."""
        out = {}
        for route, (total, unavailable, counts) in self._summary.items():
            cum = np.cumsum(counts)
            p50, p99 = (int(np.searchsorted(cum, p * total)) for p in (0.5, 0.99))
            out[route] = {"requests": total, "share_503": unavailable / total if total else 0.0,
                          "p50_s": _FAST[p50] if p50 < len(_FAST) else None,
                          "p99_s": _FAST[p99] if p99 < len(_FAST) else None}
        return out

    def joined(self, value: float, is_default: bool) -> None:
        (self._default if is_default else self._explicit).inc()
        self.reward_sum.inc(value)
        self._recent.append(value)

    def ctr(self) -> float:
        return sum(self._recent) / len(self._recent) if self._recent else 0.0
