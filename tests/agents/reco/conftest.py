from __future__ import annotations

import numpy as np
import pytest

from recloop.data.splits import sequences_split


def planted_split(n_items: int = 30, n_users: int = 120, group: int = 10, seed: int = 0):
    """Each user belongs to a taste group of ``group`` items and walks it in a cycle (next =
    current + 1 within the group) from a random start; ratings are high on even items. All items
    are about equally popular, so popularity cannot see the pattern; taste (MF, kNN) sees the
    group, sequence models see the order."""
    rng = np.random.default_rng(seed)
    users, items, ratings = [], [], []
    for u in range(n_users):
        base = group * rng.integers(n_items // group)
        start, length = rng.integers(group), rng.integers(5, 9)
        seq = base + (start + np.arange(length)) % group
        users += [u] * length
        items += seq.tolist()
        ratings += np.where(seq % 2 == 0, 5.0, 2.0).tolist()
    return sequences_split(np.array(users), np.array(items), np.array(ratings), None, n_users=n_users, n_items=n_items)


@pytest.fixture(scope="session")
def planted():
    return planted_split()
