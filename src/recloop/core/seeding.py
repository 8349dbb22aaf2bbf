"""One way to turn a seed into randomness, so the same seed gives the same numbers.

Every component that needs randomness takes a seed (or a ``numpy.random.Generator``)
and turns it into a generator here. Components that share one user-given seed get
*independent* streams by naming themselves: ``generator(seed, "replay")`` and
``generator(seed, "agent")`` never repeat each other's draws (numpy's SeedSequence
spawn keys), and the same (seed, names) give the same stream on every machine.

>>> a, b = generator(7, "replay"), generator(7, "agent")
>>> bool(a.random() != b.random()), generator(7, "replay").random() == generator(7, "replay").random()
(True, True)
>>> derive(7, "policy", "ucb1") == derive(7, "policy", "ucb1") != derive(7, "policy", "thompson")
True
"""

from __future__ import annotations

import hashlib

import numpy as np

SeedLike = int | np.random.Generator | np.random.SeedSequence | None


def as_generator(seed: SeedLike = None) -> np.random.Generator:
    """Return a ``numpy.random.Generator`` for an int, a SeedSequence, a Generator or None."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and not isinstance(seed, (int, np.integer, np.random.SeedSequence)):
        raise TypeError(f"seed must be an int, a numpy Generator or None, got {type(seed).__name__}")
    return np.random.default_rng(seed)


def _key(part: str | int) -> int:
    if isinstance(part, (int, np.integer)):
        return int(part)
    # a stable digest, never Python's hash(): that changes from process to process
    return int.from_bytes(hashlib.blake2b(str(part).encode(), digest_size=4).digest(), "little")


def sequence(seed: int, *names: str | int) -> np.random.SeedSequence:
    """The seed sequence of the component ``names`` under ``seed``."""
    return np.random.SeedSequence(int(seed), spawn_key=tuple(_key(n) for n in names))


def generator(seed: int | None, *names: str | int) -> np.random.Generator:
    """A generator for the component ``names``, independent of every other name's (``None``: fresh entropy)."""
    if seed is None:
        return np.random.default_rng()
    return np.random.default_rng(sequence(seed, *names))


def derive(seed: int | None, *names: str | int) -> int | None:
    """An integer seed (< 2**31, fits torch and every library) for the component ``names``; None stays None."""
    if seed is None:
        return None
    return int(sequence(seed, *names).generate_state(1, np.uint32)[0] >> np.uint32(1))


def spawn_seeds(seed: int, n: int) -> list[int]:
    """``n`` independent child seeds derived from ``seed`` (stable across runs and machines)."""
    children = np.random.SeedSequence(seed).spawn(n)
    return [int(c.generate_state(1)[0]) for c in children]
