"""The one way a policy turns choice probabilities and scores into a Recommendation."""

from __future__ import annotations

from typing import Hashable, Sequence

import numpy as np

from recloop.core.types import Recommendation


def check_candidates(candidates: Sequence[Hashable], k: int) -> list:
    """Validate a candidate list and ``k``; returns the ids as a list."""
    ids = list(candidates)
    if not ids:
        raise ValueError("candidates is empty")
    if len(set(ids)) != len(ids):
        raise ValueError("candidate ids must be unique")
    if not 1 <= int(k) <= len(ids):
        raise ValueError(f"k={k} must be between 1 and the number of candidates ({len(ids)})")
    return ids


def rank(ids: list, probs: np.ndarray, scores: np.ndarray, k: int, rng: np.random.Generator) -> Recommendation:
    """Sample the shown item from ``probs`` (so its logged propensity is exact), then
    fill the remaining ``k - 1`` places by descending score."""
    # inverse-CDF draw: what Generator.choice(p=...) does, without its ~50 us of checks
    cdf = np.cumsum(probs)
    first = min(int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right")), len(ids) - 1)
    if k == 1:  # the usual request: no need to sort the others
        return Recommendation(items=(ids[first],), scores=scores[first:first + 1],
                              propensities=probs[first:first + 1])
    rest = [i for i in np.argsort(-scores, kind="stable") if i != first][: int(k) - 1]
    order = [first, *rest]
    return Recommendation(items=tuple(ids[i] for i in order), scores=scores[order], propensities=probs[order])
