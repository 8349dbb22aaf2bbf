"""Import torch once, with a message that says what to install when it is missing."""

from __future__ import annotations

import contextlib
from typing import Iterator

try:
    import torch
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "recloop.agents.deep needs PyTorch. Install the CPU build with "
        "`pip install torch==2.13.0` (or `pip install 'recloop[deep]'`).",
        name="torch",
    ) from err

__all__ = ["torch", "threads", "seeded"]


@contextlib.contextmanager
def threads(n: int | None) -> Iterator[None]:
    """Run a block with ``n`` intra-op threads in torch and in numpy's BLAS, then restore both.

    Small networks are faster on one thread: the cost of waking a thread pool
    exceeds the work of a 64x64 matmul, and the machine is usually shared. The
    BLAS limit matters because the numpy code paths (acting, PPO's gradients)
    multiply 256x64 matrices, where OpenBLAS's threads cost several times the
    work; it needs ``threadpoolctl`` (in the ``[deep]`` extra) and is skipped without it.
    """
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        with _blas_threads(int(n)):
            yield
    finally:
        torch.set_num_threads(before)


def _blas_threads(n: int) -> contextlib.AbstractContextManager:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - the [deep] extra installs it
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Draw from torch's global generator under ``seed`` (network initialisation), then put it back.

    Layers initialise from the global generator; forking it means building a model never
    resets the caller's torch seed, and two models built with one seed start alike."""
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(int(seed))
        yield
