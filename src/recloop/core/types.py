"""Typed, frozen records that cross module boundaries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True, slots=True)
class Recommendation:
    """What a policy shows for one request.

    ``items[0]`` is the item the policy *chose* (sampled from its distribution);
    the rest follow by score. ``propensities[i]`` is the probability that the
    policy would have chosen ``items[i]`` first, so ``propensities[0]`` is the
    propensity to log for the decision.
    """

    items: tuple[Hashable, ...]
    scores: np.ndarray
    propensities: np.ndarray

    @property
    def chosen(self) -> Hashable:
        return self.items[0]

    @property
    def propensity(self) -> float:
        return float(self.propensities[0])


@dataclass(frozen=True, slots=True)
class Feedback:
    """One joined (decision, reward) pair, as the server hands it to a policy."""

    item_id: Hashable
    reward: float
    context: np.ndarray | None = None
    item_features: np.ndarray | None = None
    propensity: float | None = None


@runtime_checkable
class Policy(Protocol):
    """The contract every decision-making policy meets (see DESIGN.md)."""

    def act(self, obs: Any = None, *, explore: bool = True) -> int: ...

    def probabilities(self, obs: Any = None) -> np.ndarray: ...

    def update(self, action: Any, reward: float | None = None, obs: Any = None) -> None: ...

    def recommend(self, context: Any, candidates: Any, k: int = 1) -> Recommendation: ...
