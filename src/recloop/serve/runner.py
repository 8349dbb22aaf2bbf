"""Run the service on a free loopback port inside this process (demo, tests, notebooks)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Callable


def wait_until(cond: Callable[[], Any], timeout: float = 20.0, every: float = 0.05) -> Any:
    """Call ``cond()`` every ``every`` seconds until it returns something truthy, and
    return that (say, until the learner's watermark reaches the rewards stored); raise
    TimeoutError after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while not (ok := cond()):
        if time.monotonic() > end:
            raise TimeoutError(f"not true after {timeout:g} s: {getattr(cond, '__name__', cond)}")
        time.sleep(every)
    return ok


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BackgroundServer:
    """``with BackgroundServer(app) as url: ...`` — uvicorn in a thread, stopped on exit
    (gracefully: the service learns what is pending and takes a last snapshot)."""

    def __init__(self, app: Any, *, port: int | None = None, startup_timeout: float = 30.0):
        import uvicorn

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    access_log=False, lifespan="on"))
        self._thread = threading.Thread(target=self.server.run, name="recloop-server", daemon=True)
        self.startup_timeout = startup_timeout

    def __enter__(self) -> str:
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the recloop service did not start (see the log above)")
            time.sleep(0.02)
        return self.url

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=30)
