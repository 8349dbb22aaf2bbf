"""Counter-based random streams, one per user, drawn for a whole batch in one numpy call.

Why not ``numpy.random.Generator``: a vectorised simulator must step thousands of
users in one call, yet user ``i`` of a batch seeded ``s`` must see exactly the
randomness of a single-user env seeded ``s + i`` (Gymnasium's vector seeding rule),
whatever the batch size. A Generator per user would force a Python loop. Instead
each user owns a 64-bit key and a counter, and word ``n`` of its stream is
SplitMix64's output ``mix(key + n * GAMMA)`` (Steele, Lea & Flood, "Fast splittable
pseudorandom number generators", OOPSLA 2014) — a pure function of (key, counter),
so any subset of users can draw at once. Every step consumes a fixed number of
words per user, whatever happens, so streams never drift apart.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S32 = (np.uint64(s) for s in (30, 27, 31, 32))
_LOW32 = np.uint64(0xFFFFFFFF)
_INV32 = 1.0 / 4294967296.0


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser (in place on ``z``)."""
    t = z >> _S30
    z ^= t
    z *= _C1
    np.right_shift(z, _S27, out=t)
    z ^= t
    z *= _C2
    np.right_shift(z, _S31, out=t)
    z ^= t
    return z


def derive_keys(seeds: np.ndarray) -> np.ndarray:
    """Stream keys for integer seeds (vectorised): well-spread 64-bit values."""
    with np.errstate(over="ignore"):
        z = np.asarray(seeds).astype(np.uint64) * _GAMMA + np.uint64(0x2545F4914F6CDD1D)
        return _mix(_mix(z) + _GAMMA)


def fresh_seed() -> int:
    """An unpredictable seed, for ``reset(seed=None)`` on a never-seeded env."""
    return int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(1))


class UserStreams:
    """``keys[i]`` and ``counters[i]``: the position in user ``i``'s stream."""

    def __init__(self, num_users: int):
        self.keys = np.zeros(num_users, dtype=np.uint64)
        self.counters = np.zeros(num_users, dtype=np.uint64)

    def seed(self, seeds: np.ndarray, idx: np.ndarray | slice = slice(None)) -> None:
        self.keys[idx] = derive_keys(seeds)
        self.counters[idx] = 0

    def words(self, n: int, idx: np.ndarray | slice = slice(None)) -> np.ndarray:
        """The next ``n`` 64-bit words of each selected user's stream, shape ``[users, n]``."""
        keys, counters = self.keys[idx], self.counters[idx]
        with np.errstate(over="ignore"):
            z = (counters[:, None] + np.arange(n, dtype=np.uint64)) * _GAMMA + keys[:, None]
            self.counters[idx] = counters + np.uint64(n)
            return _mix(z)


def hi_uniform(w: np.ndarray) -> np.ndarray:
    """Uniform on the open interval (0, 1) from the high 32 bits of each word."""
    return ((w >> _S32).astype(np.float64) + 0.5) * _INV32


def lo_uniform(w: np.ndarray) -> np.ndarray:
    """Uniform on (0, 1) from the low 32 bits (independent of :func:`hi_uniform`)."""
    return ((w & _LOW32).astype(np.float64) + 0.5) * _INV32


def hi_integer(w: np.ndarray, n: int) -> np.ndarray:
    """Integer uniform on ``0..n-1`` from the high 32 bits (Lemire's multiply-shift)."""
    return (((w >> _S32) * np.uint64(n)) >> _S32).astype(np.int64)


def normal(u: np.ndarray) -> np.ndarray:
    """Standard normal by inverting the CDF (exact up to float rounding, one uniform each)."""
    return ndtri(u)
