"""Most-popular baseline: every user gets the items with the most training interactions."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from recloop.agents.reco.base import SequentialRecommender
from recloop.data.splits import SequentialSplit


class Popularity(SequentialRecommender):
    """Scores = training interaction counts (the floor every model must clear).

    Example:
        >>> from recloop.data.splits import sequences_split
        >>> split = sequences_split([0, 0, 0, 1, 1, 1], [2, 2, 0, 2, 1, 0])
        >>> Popularity().fit(split).score([[]]).tolist()
        [[0.0, 0.0, 2.0]]
    """

    name = "pop"

    def __init__(self) -> None:
        pass

    def fit(self, split: SequentialSplit, *, time_budget_s: float | None = None) -> "Popularity":
        self.n_items_ = split.n_items
        self.counts_ = split.item_counts().astype(np.float32)
        return self

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        hists = self._check_histories(histories)
        return np.tile(self.counts_, (len(hists), 1))

    def _state(self) -> dict[str, Any]:
        return {"counts": self.counts_}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.counts_ = np.asarray(state["counts"], dtype=np.float32)
