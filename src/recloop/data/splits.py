"""Chronological leave-one-out split for next-item recommendation (RecBole's sequential protocol).

Each user's interactions are ordered by time (ties keep file order: a stable sort). The last
one is the test target, the second-to-last the validation target, and everything before is
training data. At test time the model sees the whole history before the target, validation
item included; it is then scored against the full catalogue (no sampled negatives), as
RecBole does with ``eval_args: {split: {LS: valid_and_test}, order: TO, mode: full}``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recloop.data.movielens import MovieLens


@dataclass(frozen=True, slots=True)
class SequentialSplit:
    """Per-user time-ordered sequences of dense item indices, cut into train / valid / test.

    ``sequences[u]`` and ``ratings[u]`` are user ``u``'s full ordered history. Users with fewer
    than three interactions cannot be cut; they keep all items in training and have no targets
    (``eval_users`` lists the users that do).
    """

    n_items: int
    sequences: tuple[np.ndarray, ...]
    ratings: tuple[np.ndarray, ...]
    timestamps: tuple[np.ndarray, ...]
    eval_users: np.ndarray

    @property
    def n_users(self) -> int:
        return len(self.sequences)

    def train_sequence(self, user: int) -> np.ndarray:
        seq = self.sequences[user]
        return seq[:-2] if len(seq) >= 3 else seq

    def train_ratings(self, user: int) -> np.ndarray:
        r = self.ratings[user]
        return r[:-2] if len(r) >= 3 else r

    def train_sequences(self) -> list[np.ndarray]:
        return [self.train_sequence(u) for u in range(self.n_users)]

    def eval_set(self, which: str = "test") -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
        """``(users, histories, targets)`` for ``which`` in {"valid", "test"}."""
        if which not in ("valid", "test"):
            raise ValueError(f"which must be 'valid' or 'test', got {which!r}")
        cut = -1 if which == "test" else -2
        users = self.eval_users
        hist = [self.sequences[u][:cut] for u in users]
        targets = np.array([self.sequences[u][cut] for u in users], dtype=np.int64)
        return users, hist, targets

    def train_matrix(self) -> np.ndarray:
        """Dense (n_users, n_items) 0/1 matrix of training interactions."""
        m = np.zeros((self.n_users, self.n_items), dtype=np.float32)
        for u in range(self.n_users):
            m[u, self.train_sequence(u)] = 1.0
        return m

    def item_counts(self) -> np.ndarray:
        return np.bincount(np.concatenate(self.train_sequences()), minlength=self.n_items)


def leave_one_out(data: MovieLens) -> SequentialSplit:
    """Chronological leave-one-out split of ``data`` (see module docstring)."""
    return sequences_split(data.users, data.items, data.ratings, data.timestamps,
                           n_users=data.n_users, n_items=data.n_items)


def sequences_split(users: np.ndarray, items: np.ndarray, ratings: np.ndarray | None = None,
                    timestamps: np.ndarray | None = None, *, n_users: int | None = None,
                    n_items: int | None = None) -> SequentialSplit:
    """Leave-one-out split from raw interaction arrays (dense 0-based user and item indices)."""
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    n = len(users)
    if len(items) != n:
        raise ValueError(f"users and items differ in length ({n} vs {len(items)})")
    ratings = np.ones(n, np.float32) if ratings is None else np.asarray(ratings, np.float32)
    timestamps = np.arange(n, dtype=np.int64) if timestamps is None else np.asarray(timestamps, np.int64)
    n_users = int(users.max()) + 1 if n_users is None else n_users
    n_items = int(items.max()) + 1 if n_items is None else n_items
    if n and (users.min() < 0 or users.max() >= n_users or items.min() < 0 or items.max() >= n_items):
        raise ValueError("user/item indices must be dense 0-based indices below n_users/n_items")
    order = np.lexsort((timestamps, users))  # lexsort is stable: equal times keep file order
    bounds = np.searchsorted(users[order], np.arange(n_users + 1))
    seqs, rats, times = [], [], []
    for u in range(n_users):
        idx = order[bounds[u]:bounds[u + 1]]
        seqs.append(items[idx])
        rats.append(ratings[idx])
        times.append(timestamps[idx])
    eval_users = np.array([u for u in range(n_users) if len(seqs[u]) >= 3], dtype=np.int64)
    return SequentialSplit(n_items=n_items, sequences=tuple(seqs), ratings=tuple(rats),
                           timestamps=tuple(times), eval_users=eval_users)
