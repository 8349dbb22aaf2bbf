"""Run experiment jobs as Ray tasks: one machine with ``ray.init()``, a cluster with ``address=...``.

The same config runs unchanged on the local, process and Ray backends and gives
the same table: each job is a pure function of its (env, policy, seed), so where
it runs does not matter. Results come back in job order; ``on_done`` fires as
each one arrives, so a progress bar moves while the grid is running.

A job that raises inside ``run_job`` comes back as a ``RunResult`` carrying
its traceback (the runner catches it). A job that dies *at the Ray level* — its
worker process crashed, was killed for memory, or the node went away — is
turned into the same kind of failed result here, with Ray's error text, and the
rest of the grid completes.

Only a Ray instance this module started is shut down again: if the caller (or a
test fixture) already called ``ray.init``, we use that session and leave it up.

Example (not run as a doctest: starting Ray takes seconds)::

    from recloop.experiment.config import load_config
    from recloop.experiment.runner import jobs_for, run_job
    from recloop.experiment.ray_backend import execute_ray
    results = execute_ray(jobs_for(load_config("grid.yaml")), run_job)              # local Ray
    results = execute_ray(jobs, run_job, address="ray://head:10001")                 # a cluster
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar

J = TypeVar("J")
R = TypeVar("R")

# Tasks that died with their worker are retried this many times before we
# report them as failed: a crash from memory pressure may not repeat, a
# deterministic segfault would only waste the cluster's time.
DEFAULT_RETRIES = 1


def require_ray() -> Any:
    """Import ray, or say how to get it."""
    try:
        import ray
    except ImportError as err:  # the [ray] extra is optional
        raise ImportError("the Ray backend needs the 'ray' package: pip install 'recloop[ray]'") from err
    return ray


def _workers_import_our_recloop() -> None:
    """Let a local instance's workers import the same recloop as this driver.

    Workers inherit our environment and working directory, so an installed
    recloop or one on ``PYTHONPATH`` is found as is. A driver that found recloop
    through ``sys.path`` alone (a script in a source checkout) would leave its
    workers importing another copy, or none: put its directory on ``PYTHONPATH``
    before Ray starts (a job-level runtime env would do the same but makes Ray
    start fresh workers, which costs seconds)."""
    import recloop

    src = Path(recloop.__file__).resolve().parent.parent
    entries = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if src.name in ("site-packages", "dist-packages") or src in [Path(p).resolve() for p in entries]:
        return
    os.environ["PYTHONPATH"] = os.pathsep.join([str(src), *entries])


def init_ray(address: str | None = None, *, num_cpus: int | None = None, ship_code: bool = False) -> bool:
    """Start Ray unless it is running; return whether this call started it.

    ``address=None`` starts a local instance with this machine's CPUs (or
    ``num_cpus``); ``"auto"`` joins a cluster this node belongs to;
    ``"ray://host:10001"`` connects through Ray Client. On a cluster the nodes
    need recloop installed, or ``ship_code=True`` uploads this copy with the job.
    """
    ray = require_ray()
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"log_to_driver": False}
    if ship_code:
        import recloop

        kwargs["runtime_env"] = {"py_modules": [str(Path(recloop.__file__).parent)]}
    if address:
        kwargs["address"] = address
    else:
        _workers_import_our_recloop()
        kwargs.update(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False)
    try:
        ray.init(**kwargs)
    except ConnectionError as err:
        raise ConnectionError(f"cannot reach the Ray cluster at {address!r}: {err}") from err
    return True


@contextlib.contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None,
                ship_code: bool = False) -> Iterator[Any]:
    """Use the running Ray session, or start one (see :func:`init_ray`) for the block.

    Only a session started here is shut down on exit, so a caller that
    initialised Ray itself (a notebook, a test fixture) keeps it.
    """
    started = init_ray(address, num_cpus=num_cpus, ship_code=ship_code)
    ray = require_ray()
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def _failed_run(job: Any, message: str) -> Any:
    """A failed ``RunResult`` for a runner ``Job`` that never returned."""
    from recloop.experiment.runner import RunResult

    return RunResult(job.policy.label, job.seed, error=message)


def execute_ray(jobs: Sequence[J], run_fn: Callable[[J], R], *, address: str | None = None,
                on_done: Callable[[R], None] | None = None, max_in_flight: int | None = None,
                num_cpus: int | None = None, retries: int = DEFAULT_RETRIES, ship_code: bool = False,
                on_error: Callable[[J, str], R] = _failed_run) -> list[R]:
    """Run ``run_fn(job)`` for every job as a Ray task (one CPU each); results in job order.

    ``max_in_flight`` caps how many tasks are submitted at once (default: all;
    the cluster's CPUs decide how many run). ``on_error(job, text)`` builds the
    result of a task that failed at the Ray level (the default suits runner
    ``Job``s); a task whose ``run_fn`` raised also lands there, with the
    remote traceback in ``text``.
    """
    if max_in_flight is not None and max_in_flight < 1:
        raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
    done = on_done or (lambda r: None)
    if not jobs:
        return []
    with ray_session(address, num_cpus=num_cpus, ship_code=ship_code) as ray:
        task = ray.remote(num_cpus=1, max_retries=retries, retry_exceptions=False)(run_fn)
        results: list[Any] = [None] * len(jobs)
        pending: dict[Any, int] = {}
        queue = iter(range(len(jobs)))
        cap = max_in_flight or len(jobs)

        def submit() -> None:
            for i in queue:
                pending[task.remote(jobs[i])] = i
                if len(pending) >= cap:
                    return

        try:
            submit()
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                i = pending.pop(ready[0])
                try:
                    results[i] = ray.get(ready[0])
                except ray.exceptions.RayError as err:  # worker died, task cancelled, or run_fn raised
                    results[i] = on_error(jobs[i], f"{type(err).__name__}: {err}")
                done(results[i])
                submit()
        except BaseException:  # Ctrl-C or a failing on_done: do not leave tasks running in a shared cluster
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        return results
