"""Non-learning-to-plan baselines: uniformly random slates and feature popularity."""

from __future__ import annotations

import numpy as np

from recloop.agents.slate.base import SlateDecision, SlatePolicy


class RandomSlate(SlatePolicy):
    """Every ordered slate of distinct items equally likely: propensity ``(K - S)! / K!``."""

    def __init__(self, num_candidates: int, slate_size: int, *, seed: int | None = None):
        super().__init__(num_candidates, slate_size, epsilon=1.0, seed=seed)

    def current_epsilon(self) -> float:
        return 1.0

    def select(self, obs, *, explore: bool = True) -> SlateDecision:
        # Random whether exploring or not: there is no greedy slate to fall back on.
        return super().select(obs, explore=True)

    def probabilities(self, obs=None, *, explore: bool = True) -> np.ndarray:
        return super().probabilities(obs, explore=True)

    def slate_propensity(self, obs, slates, *, explore: bool = True) -> np.ndarray:
        return super().slate_propensity(obs, slates, explore=True)


class Popularity(SlatePolicy):
    """Shows the candidates most like what users clicked so far: score = doc features · click counts.

    With RecSim's one-hot topic features this is "most-clicked topics first".
    Ties go to the lower index; ``epsilon`` mixes in uniformly random slates.
    """

    def __init__(self, num_candidates: int, slate_size: int, *, epsilon: float = 0.0, seed: int | None = None):
        super().__init__(num_candidates, slate_size, epsilon=epsilon, seed=seed)
        self.counts_: np.ndarray | None = None

    def _greedy_slates(self, user: np.ndarray, doc: np.ndarray) -> np.ndarray:
        counts = self.counts_ if self.counts_ is not None else np.zeros(doc.shape[-1])
        score = doc @ counts
        # ties go to the lower index, so the greedy slate is a function of the state and
        # the propensities stay exact
        return np.argsort(-score, axis=1, kind="stable")[:, : self.slate_size]

    def observe(self, batch: dict[str, np.ndarray]) -> dict[str, float]:
        clicked = batch["click"] < self.slate_size
        if self.counts_ is None:
            self.counts_ = np.zeros(batch["doc"].shape[-1])
        rows = np.flatnonzero(clicked)
        items = batch["slate"][rows, batch["click"][rows]]
        self.counts_ += batch["doc"][rows, items].sum(axis=0)
        return {}
