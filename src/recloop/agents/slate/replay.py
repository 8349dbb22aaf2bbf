"""A uniform replay buffer of slate transitions (numpy ring buffer, batched writes)."""

from __future__ import annotations

import numpy as np


class SlateReplay:
    """Fields: user, doc, slate, click (position, ``slate_size`` = none), reward, next_user,
    next_doc, next_slate (the slate actually shown next: SARSA's a'), done."""

    def __init__(self, capacity: int, *, user_dim: int, doc_shape: tuple[int, int], slate_size: int):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        K, D = doc_shape
        self._data = {
            "user": np.zeros((capacity, user_dim), np.float32), "doc": np.zeros((capacity, K, D), np.float32),
            "slate": np.zeros((capacity, slate_size), np.int64), "click": np.zeros(capacity, np.int64),
            "reward": np.zeros(capacity, np.float32), "next_user": np.zeros((capacity, user_dim), np.float32),
            "next_doc": np.zeros((capacity, K, D), np.float32),
            "next_slate": np.zeros((capacity, slate_size), np.int64), "done": np.zeros(capacity, np.float32),
        }
        self._pos = 0
        self.size = 0

    def add(self, **batch: np.ndarray) -> None:
        n = len(batch["reward"])
        idx = (self._pos + np.arange(n)) % self.capacity
        for key, arr in self._data.items():
            arr[idx] = batch[key]
        self._pos = int((self._pos + n) % self.capacity)
        self.size = min(self.size + n, self.capacity)

    def sample(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        idx = rng.integers(0, self.size, size=n)
        return {k: v[idx] for k, v in self._data.items()}
