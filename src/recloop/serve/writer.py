"""Group commit: one writer thread turns many concurrent requests into few transactions.

Each rank/reward request hands its record to the writer and awaits a future; the
writer takes everything queued, stores it in ONE transaction (one fsync), then
answers all of them at once. Durability per request at the cost of one commit per
batch — the classic group commit of database logs. One writer also keeps reward
sequence numbers committed in order, which the learner's watermark relies on.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from typing import Any, Callable, Generic, TypeVar

from recloop.serve.store import Joined, RewardIn, Store

log = logging.getLogger("recloop.serve")

_STOP = object()


D = TypeVar("D")  # the decision record the store writes (a Decision for /v1)


class GroupWriter(Generic[D]):
    """Serialises all writes to ``store``; ``on_joined(list[Joined])`` runs in the event loop."""

    def __init__(self, store: Store, loop: asyncio.AbstractEventLoop,
                 on_joined: Callable[[list[Joined]], None], max_batch: int = 512,
                 on_batch: Callable[[int], None] | None = None,
                 on_failure: Callable[[Exception], None] | None = None):
        self.store = store
        self.loop = loop
        self.on_joined = on_joined
        self.on_batch = on_batch
        self.on_failure = on_failure  # called (in this thread) once per failed transaction
        self.max_batch = max_batch
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="recloop-writer", daemon=True)
        self.batches = 0
        self.written = 0
        self.failures = 0
        self.last_error: str | None = None   # cause of the last failed transaction; None after a success

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._q.put(_STOP)
        self._thread.join(timeout=10)

    async def decision(self, d: D) -> tuple[str, Any]:
        fut = self.loop.create_future()
        self._q.put(("d", d, fut))
        return await fut

    async def reward(self, r: RewardIn) -> tuple[str, Any]:
        fut = self.loop.create_future()
        self._q.put(("r", r, fut))
        return await fut

    async def flush(self) -> None:
        """An empty transaction through this writer. Every transaction renews the learner
        lease, so this is the lease heartbeat of an idle service, taken in turn with the
        group commits instead of on a second connection beside them; and the first one
        after a commit whose answer was lost hands the rewards it stored to the learner
        (:meth:`Store.owed_joined`) even if no request comes after it. Raises the store's
        own error when it refuses it (StoreFenced, OperationalError, ...)."""
        fut = self.loop.create_future()
        self._q.put(("n", None, fut))
        await fut

    def _run(self) -> None:
        while True:
            first = self._q.get()
            if first is _STOP:
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    item = self._q.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list) -> None:
        try:
            results, joined = self._commit(batch)
        except Exception as err:  # the transaction rolled back: nothing of this batch is stored
            self._failed(err, len(batch))
            if len(batch) == 1 or store_level(err):
                self.loop.call_soon_threadsafe(_fail, batch, err)
                return
            # One request the store refuses must not fail its neighbours: retry them one
            # by one, so only the bad one is answered 503. Decisions first, as in one
            # batch: a client with its own event ids may send a reward beside its rank.
            batch = [b for b in batch if b[0] == "d"] + [b for b in batch if b[0] != "d"]
            results, joined = [], []
            for i, b in enumerate(batch):
                try:
                    out, j = self._commit([b])
                except Exception as one:
                    self._failed(one, 1)
                    if store_level(one):  # the store itself is down now: the rest fail alike
                        self.loop.call_soon_threadsafe(_fail, batch[i:], one)
                        break
                    self.loop.call_soon_threadsafe(_fail, [b], one)
                    continue
                results += out
                joined += j
        self.loop.call_soon_threadsafe(self._deliver, results, joined)

    def _commit(self, batch: list) -> tuple[list, list[Joined]]:
        ds = [b for b in batch if b[0] == "d"]
        rs = [b for b in batch if b[0] == "r"]
        d_out, r_out, joined = self.store.write_batch([b[1] for b in ds], [b[1] for b in rs])
        self.batches += 1
        self.written += len(ds) + len(rs)
        self.last_error = None
        return ([(b[2], out) for b, out in zip(ds, d_out)] + [(b[2], out) for b, out in zip(rs, r_out)]
                + [(b[2], None) for b in batch if b[0] == "n"]), joined

    def _failed(self, err: Exception, n: int) -> None:
        self.failures += 1
        self.last_error = describe(err)
        log.error("store write failed (%d request%s): %s", n, "" if n == 1 else "s", self.last_error)
        if self.on_failure is not None:
            self.on_failure(err)

    def _deliver(self, results: list, joined: list[Joined]) -> None:
        requests = sum(out is not None for _, out in results)  # not the heartbeats (flush)
        if self.on_batch is not None and requests:
            self.on_batch(requests)
        if joined:  # learner first: its queue must hold a reward before the client hears "stored"
            self.on_joined(joined)
        for fut, out in results:
            if not fut.done():
                fut.set_result(out)


async def renew_lease(store: Store, writer: GroupWriter | None) -> None:
    """The learner lease's heartbeat: through the writer where there is one (role all; see
    :meth:`GroupWriter.flush`), else on a pooled connection (the learner of rankers, whose
    inbox takes do their own owed-reward check). Raises StoreFenced or the store's own error."""
    if writer is None:
        await asyncio.to_thread(store.renew_lease)
    else:
        await writer.flush()


def _fail(items: list, err: Exception) -> None:
    """Fail the futures of queued ``(kind, record, future)`` items with ``err``."""
    for kind, _, fut in items:
        if not fut.done():
            # a client hears the kind of failure; the cause (paths, SQL) goes to the log only.
            # A heartbeat (flush) is the service's own: it gets the cause, for /readyz.
            fut.set_exception(err if kind == "n" else StoreUnavailable(type(err).__name__))


class StoreUnavailable(RuntimeError):
    """The store refused a write; the request was not stored."""


def describe(err: BaseException) -> str:
    """An error with its cause, on one line: ``OperationalError: database or disk is full``."""
    text = " ".join(str(err).split())
    if len(text) > 300:
        text = text[:300] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def store_level(err: BaseException) -> bool:
    """True when ``err`` is about the store (down, full, read-only, lost connection),
    not about one record: retrying the records one by one cannot help then."""
    names = {c.__name__ for c in type(err).__mro__}
    return bool(names & {"OperationalError", "InterfaceError", "StoreFenced"})
