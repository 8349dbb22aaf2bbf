"""Fault drill: kill -9 a serving process under load, restart it, check nothing was lost.

A client thread plays events ``ev-0, ev-1, ...`` (rank, then reward) and retries
each request until it gets an answer, with the same event id — so a request whose
answer died with the server is re-sent and must be answered idempotently. The
drill kills the server with SIGKILL at random moments and restarts it. At the end:

- every decision and reward that got a success answer is in the store, once;
- the served model (after a final snapshot) equals a fresh policy that learned
  all joined rewards in order without interruption.

Used by ``tests/serve/test_crash.py`` (a few kills) and ``benchmarks/serve_load.py
--crash`` (ten).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


from recloop.core.seeding import as_generator
from recloop.serve.runner import free_port


@dataclass
class DrillResult:
    kills: int
    acked_decisions: int
    acked_rewards: int
    missing_decisions: list[str] = field(default_factory=list)
    wrong_decisions: list[str] = field(default_factory=list)
    missing_rewards: list[str] = field(default_factory=list)
    stored_decisions: int = 0
    stored_rewards: int = 0
    replayed_on_restart: list[int] = field(default_factory=list)
    victims: list[str] = field(default_factory=list)  # scale-out drill: which process each kill hit
    db_restart: dict[str, Any] | None = None  # scale-out drill: the database restart, as clients saw it
    model_equal: bool = False
    model_updates: int = 0    # rewards the served model learned (its update count) ...
    replay_updates: int = 0   # ... and a fresh policy replaying the stored log: more is "learned twice"
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.missing_decisions or self.wrong_decisions or self.missing_rewards) and self.model_equal


def _server_cmd(db: str, port: int, n_features: int) -> list[str]:
    return [sys.executable, "-m", "recloop.apps", "serve", "--db", db, "--port", str(port), "--policy", "linucb",
            "--n-features", str(n_features), "--snapshot-every", "0.5",
            "--reward-wait", "3600", "--seed", "0", "--log-level", "error",
            "--insecure-admin"]  # a loopback drill: its snapshot call needs no key


class _Server:
    def __init__(self, cmd: list[str], port: int, log: Path):
        self.cmd, self.port, self.log = cmd, port, log
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> None:
        import httpx
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        env.pop("RECLOOP_API_KEY", None)
        env.pop("RECLOOP_ADMIN_KEY", None)
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(self.cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not start in {timeout}s; see {self.log}")

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _client(url: str, n_features: int, stop: threading.Event, acked_d: dict, acked_r: dict) -> None:
    import httpx
    cands = [{"id": f"item-{k}"} for k in range(8)]
    i = 0
    with httpx.Client(base_url=url, timeout=5) as c:
        while not stop.is_set():
            ev = f"ev-{i}"
            rng = as_generator(i)
            body = {"event_id": ev, "context": rng.normal(size=n_features).tolist(), "candidates": cands}
            out = _until_answered(lambda: c.post("/v1/rank", json=body), stop)  # noqa: B023 - called at once
            if out is None:
                return
            assert out.status_code == 200, out.text
            acked_d[ev] = out.json()["chosen_id"]
            value = float(rng.random() < 0.4)
            out = _until_answered(lambda: c.post(f"/v1/events/{ev}/reward", json={"value": value}), stop)  # noqa: B023
            if out is None:
                return
            assert out.status_code == 204, out.text
            acked_r[ev] = value
            i += 1


def _until_answered(call: Any, stop: threading.Event) -> Any:
    import httpx
    while True:
        try:
            return call()
        except httpx.TransportError:  # server down: wait for the restart, send the same request again
            if stop.is_set():
                return None
            time.sleep(0.05)


def drill(workdir: str | Path, *, kills: int = 3, db: str | None = None, n_features: int = 4,
          min_gap: float = 0.5, max_gap: float = 1.5, seed: int = 0) -> DrillResult:
    """Run the drill in ``workdir``; ``db`` defaults to a SQLite file there."""
    import httpx

    from recloop.serve.store import Store

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    db = db or f"sqlite:///{workdir / 'drill.db'}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = _Server(_server_cmd(db, port, n_features), port, workdir / "server.log")
    rng = as_generator(seed)
    acked_d: dict[str, str] = {}
    acked_r: dict[str, float] = {}
    stop = threading.Event()
    t0 = time.perf_counter()
    server.start()
    result = DrillResult(kills=kills, acked_decisions=0, acked_rewards=0)
    client = threading.Thread(target=_client, args=(url, n_features, stop, acked_d, acked_r), daemon=True)
    client.start()
    try:
        for _ in range(kills):
            time.sleep(rng.uniform(min_gap, max_gap))
            server.kill9()
            server.start()
            result.replayed_on_restart.append(httpx.get(f"{url}/v1/stats").json()["model"]["replayed"])
        time.sleep(rng.uniform(min_gap, max_gap))
        stop.set()
        client.join(timeout=30)
        store = Store(db)
        end = time.monotonic() + 30
        while httpx.get(f"{url}/healthz").json()["watermark"] < store.max_reward_seq():
            if time.monotonic() > end:
                raise RuntimeError("the service did not learn every stored reward within 30 s")
            time.sleep(0.05)
        snap = httpx.post(f"{url}/v1/models/snapshot", json={}).json()
    finally:
        stop.set()
        server.stop()
    _check(result, store, acked_d, acked_r, snap["version"], n_features)
    store.close()
    result.seconds = time.perf_counter() - t0
    return result


def _check(result: DrillResult, store: Any, acked_d: dict, acked_r: dict, version: int, n_features: int) -> None:
    """Every acknowledged event stored once; the served model equals an uninterrupted run."""
    from recloop.core.registry import make
    from recloop.serve.learner import load_snapshot, same_model

    result.acked_decisions, result.acked_rewards = len(acked_d), len(acked_r)
    for ev, chosen in acked_d.items():
        d = store.decision(ev)
        if d is None:
            result.missing_decisions.append(ev)
        elif d.chosen != chosen:
            result.wrong_decisions.append(ev)
    for ev, value in acked_r.items():
        r = store.reward(ev)
        if r is None or r["value"] != value:
            result.missing_rewards.append(ev)
    counts = store.counts()  # the unique constraints make "twice" impossible; counts show it
    result.stored_decisions, result.stored_rewards = counts["decisions"], counts["rewards"]
    served = load_snapshot(store, version)
    uninterrupted = make("policy", "linucb", n_features=n_features, seed=0)
    uninterrupted.update_many(j.feedback for j in store.joined_after(0))
    result.model_updates, result.replay_updates = int(served.t_), int(uninterrupted.t_)
    result.model_equal = same_model(served, uninterrupted) and served.t_ == uninterrupted.t_


def scaled_drill(workdir: str | Path, db: str, *, schema: str | None = None, kills: int = 3, n_features: int = 4,
                 min_gap: float = 0.5, max_gap: float = 1.5, seed: int = 0,
                 restart_db: Callable[[], None] | None = None) -> DrillResult:
    """The drill on a scaled deployment (PostgreSQL): one learner and two rankers; each
    kill -9 hits one of the three at random. Clients send each event's rank to one ranker
    and its reward to the other, and switch rankers (same event id) when one is down.

    ``restart_db`` (a function that restarts the database server and returns once it
    accepts connections again) is called once, half-way through the kills, while the
    services keep running: they must ride it out (rankers answer 503 meanwhile, the
    learner goes on with its lease). :attr:`DrillResult.db_restart` says how it went."""
    import httpx

    from recloop.serve.store import Store

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    extra = ["--lease", "1", "--model-refresh", "0.2"] + (["--db-schema", schema] if schema else [])
    servers = {}
    for name in ("learner", "ranker-a", "ranker-b"):
        port = free_port()
        role = name.split("-")[0]
        servers[name] = _Server(_server_cmd(db, port, n_features) + ["--role", role] + extra, port,
                                workdir / f"{name}.log")
    rankers = [f"http://127.0.0.1:{servers[n].port}" for n in ("ranker-a", "ranker-b")]
    learner = f"http://127.0.0.1:{servers['learner'].port}"
    rng = as_generator(seed)
    acked_d: dict[str, str] = {}
    acked_r: dict[str, float] = {}
    stop = threading.Event()
    t0 = time.perf_counter()
    result = DrillResult(kills=kills, acked_decisions=0, acked_rewards=0)
    for server in servers.values():  # the learner first: rankers wait for its first snapshot
        server.start()
    attempts: list[tuple[float, int]] = []  # (time, status) of every request the client sent; 0: no answer
    client_errors: list[BaseException] = []

    def play() -> None:
        try:
            _scaled_client(rankers, n_features, stop, acked_d, acked_r, attempts)
        except BaseException as err:  # an answer the drill does not expect: the drill fails with it
            client_errors.append(err)

    client = threading.Thread(target=play, daemon=True)
    client.start()
    store = Store(db, schema=schema)
    try:
        for k in range(kills):
            time.sleep(rng.uniform(min_gap, max_gap))
            name = str(rng.choice(list(servers)))
            result.victims.append(name)
            victim = servers[name]
            victim.kill9()
            victim.start()
            if restart_db is not None and k == kills // 2:
                time.sleep(rng.uniform(min_gap, max_gap))
                result.db_restart = _restart_under_load(restart_db, learner, attempts)
        time.sleep(rng.uniform(min_gap, max_gap))
        stop.set()
        client.join(timeout=30)
        if client_errors:
            raise RuntimeError(f"the drill's client stopped: {client_errors[0]!r}") from client_errors[0]
        end = time.monotonic() + 30
        while httpx.get(f"{learner}/healthz").json()["watermark"] < len(acked_r) or \
                httpx.get(f"{learner}/healthz").json()["watermark"] < store.max_reward_seq():
            if time.monotonic() > end:
                raise RuntimeError("the learner did not learn every acknowledged reward within 30 s")
            time.sleep(0.05)
        snap = httpx.post(f"{learner}/v1/models/snapshot", json={}).json()
    finally:
        stop.set()
        for server in servers.values():
            server.stop()
    _check(result, store, acked_d, acked_r, snap["version"], n_features)
    store.close()
    result.seconds = time.perf_counter() - t0
    return result


def _restart_under_load(restart_db: Callable[[], None], learner: str, attempts: list) -> dict[str, Any]:
    """Restart the database while the client plays events; what the client and the learner saw."""
    import httpx

    def lease_token(timeout: float = 60) -> tuple[int | None, float]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:  # /readyz is 503 until the learner's lease heartbeat got through
            try:
                r = httpx.get(f"{learner}/readyz", timeout=5)
                if r.status_code == 200:
                    return r.json()["checks"]["lease"]["token"], time.monotonic()
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        return None, time.monotonic()

    token_before, _ = lease_token()
    t0 = time.monotonic()
    restart_db()
    t1 = time.monotonic()
    end = t1 + 60
    while not any(t > t1 and status in (200, 204) for t, status in attempts[-50:]):  # the client is served again
        if time.monotonic() > end:
            raise RuntimeError("no request succeeded within 60 s of the database restart")
        time.sleep(0.01)
    token_after, t_ready = lease_token()
    seen = list(attempts)
    t_ok = next(t for t, status in seen if t > t1 and status in (200, 204))
    failed = [(t, status) for t, status in seen if t0 <= t <= t_ok and status in (0, 503)]
    # the client's view: the longest wait between two served requests, from the last one
    # served before the restart began to the first one served after it ended
    served = [t for t, status in seen if status in (200, 204) and t <= t_ok]
    served = [t for t in served if t >= t0] + [max((t for t in served if t < t0), default=t0)]
    served.sort()
    return {"command_s": round(t1 - t0, 2),
            "longest_unserved_s": round(max(b - a for a, b in zip(served, served[1:])), 2),
            "first_refusal_s": round(failed[0][0] - t0, 2) if failed else None,  # from the restart's start
            "last_refusal_s": round(failed[-1][0] - t0, 2) if failed else None,
            "answered_503": sum(status == 503 for _, status in failed),
            "unanswered": sum(status == 0 for _, status in failed),  # a ranker's connection failed outright
            "learner_ready_again_s": round(t_ready - t1, 2),
            "lease_token_before": token_before, "lease_token_after": token_after}


def _scaled_client(urls: list[str], n_features: int, stop: threading.Event, acked_d: dict, acked_r: dict,
                   attempts: list | None = None) -> None:
    import httpx
    cands = [{"id": f"item-{k}"} for k in range(8)]
    i = 0
    with httpx.Client(timeout=5) as c:
        while not stop.is_set():
            ev = f"ev-{i}"
            rng = as_generator(i)
            body = {"event_id": ev, "context": rng.normal(size=n_features).tolist(), "candidates": cands}
            out = _any_ranker(urls, i, lambda u, body=body: c.post(f"{u}/v1/rank", json=body), stop, attempts)
            if out is None:
                return
            assert out.status_code == 200, out.text
            acked_d[ev] = out.json()["chosen_id"]
            value = float(rng.random() < 0.4)
            out = _any_ranker(urls, i + 1, lambda u, ev=ev, value=value: c.post(f"{u}/v1/events/{ev}/reward",
                                                                                 json={"value": value}), stop,
                              attempts)
            if out is None:
                return
            assert out.status_code == 204, out.text
            acked_r[ev] = value
            i += 1


def _any_ranker(urls: list[str], start: int, call: Any, stop: threading.Event, attempts: list | None = None) -> Any:
    import httpx
    k = start
    while True:
        try:
            out = call(urls[k % len(urls)])
            if attempts is not None:
                attempts.append((time.monotonic(), out.status_code))
            if out.status_code != 503:
                return out
        except httpx.TransportError:  # that ranker is down: the other one, the same request
            if attempts is not None:
                attempts.append((time.monotonic(), 0))
        if stop.is_set():
            return None
        k += 1
        time.sleep(0.02)
