"""Item-based k-nearest-neighbours (Sarwar et al. 2001) with recency weighting for sequences.

Item-item cosine similarity from the training user x item matrix, shrunk towards zero for
items with little support (Koren 2008), each row kept to its ``neighbours`` best. A history
scores an item by the similarity-weighted votes of its items, recent ones counting more
(weight ``recency ** age``), which makes the classic model sequence-aware.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from recloop.agents.reco.base import SequentialRecommender
from recloop.data.splits import SequentialSplit


class ItemKNN(SequentialRecommender):
    name = "itemknn"

    def __init__(self, *, neighbours: int = 100, shrink: float = 10.0, recency: float = 0.9,
                 window: int = 50):
        if not 0.0 < recency <= 1.0:
            raise ValueError(f"recency must be in (0, 1], got {recency}")
        self.neighbours, self.shrink, self.recency, self.window = neighbours, shrink, recency, window

    def fit(self, split: SequentialSplit, *, time_budget_s: float | None = None) -> "ItemKNN":
        x = split.train_matrix()
        co = x.T @ x
        norms = np.sqrt(np.diag(co))
        sim = co / (np.outer(norms, norms) + self.shrink + 1e-12)
        np.fill_diagonal(sim, 0.0)
        if self.neighbours < sim.shape[0]:
            cut = np.partition(sim, -self.neighbours, axis=1)[:, -self.neighbours][:, None]
            sim = np.where(sim >= cut, sim, 0.0)
        self.n_items_ = split.n_items
        self.sim_ = sim.astype(np.float32)
        return self

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        hists = self._check_histories(histories)
        weights = np.zeros((len(hists), self.n_items_), dtype=np.float32)
        for row, h in enumerate(hists):
            h = h[-self.window:]
            np.add.at(weights[row], h, self.recency ** np.arange(len(h))[::-1])
        return weights @ self.sim_

    def _state(self) -> dict[str, Any]:
        return {"sim": self.sim_}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.sim_ = np.asarray(state["sim"], dtype=np.float32)
