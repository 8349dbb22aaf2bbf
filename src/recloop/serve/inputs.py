"""What a rank request's context and candidates become for the served policy.

A context arrives as a vector, or as a JSON object of named features. An object goes
through the model's :class:`~recloop.data.features.Featuriser` (the one the Personalizer
routes and offline fitting use), which is saved with the model: after a restart the same
object gives the same vector, and the decision stores that vector, so a replay of the
log learns exactly what was learned live. Without a featuriser a flat object of numbers
is the vector of its values ordered by name.

A policy that scores items by their features (``n_item_features``, e.g. hybrid LinUCB)
gets every candidate's features with the request; the decision stores them and the
learner learns the chosen item's features as they were when it was shown.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from fastapi import HTTPException

from recloop.core.types import Recommendation


def context_vector(policy: Any, ctx: Any, policy_name: str) -> np.ndarray | None:
    """The vector ``policy`` decides on (None for a context-free policy given none); HTTP 422
    naming the problem when ``ctx`` does not fit it."""
    if isinstance(ctx, dict):
        featuriser = policy.featuriser
        if featuriser is not None and not featuriser.is_dense:
            try:
                return featuriser.context(ctx)
            except ValueError as err:
                raise HTTPException(422, str(err)) from None  # it names the feature
        if not all(type(v) in (int, float) for v in ctx.values()):
            name = next(k for k, v in ctx.items() if type(v) not in (int, float))
            raise HTTPException(422, f"body.context: feature {name!r} is not a number; nested, text and list "
                                     "features need a featuriser: start the service with --context-features hashed "
                                     "(or serve a model fitted on such contexts)")
        ctx = [ctx[k] for k in sorted(ctx)]
    if not policy.contextual:
        return None if ctx is None else np.asarray(ctx, dtype=np.float64)
    d = policy.n_features
    if ctx is None:
        raise HTTPException(422, f"context is required: the {policy_name} policy needs {d} features")
    if len(ctx) != d:
        raise HTTPException(422, f"context has {len(ctx)} features; the policy expects {d}")
    return np.asarray(ctx, dtype=np.float64)


def item_matrix(policy: Any, ids: Sequence[str], feats: Sequence[Any], policy_name: str) -> np.ndarray | None:
    """The candidates' features as an ``(n, n_item_features)`` array for a policy that scores
    items by them (None for every other policy); HTTP 422 naming the first candidate without
    features of the right length."""
    m = getattr(policy, "n_item_features", None)
    if m is None:
        return None
    for item, f in zip(ids, feats):
        if f is None or len(f) != m:
            got = "no features" if f is None else f"{len(f)} features"
            raise HTTPException(422, f"candidate {item!r} has {got}; the {policy_name} policy scores every "
                                     f"candidate by its {m} item features")
    return np.array(feats, dtype=np.float64)


def recommend(policy: Any, x: np.ndarray | None, ids: list[str], k: int, feats: Sequence[Any],
              policy_name: str) -> Recommendation:
    """``policy.recommend`` with the candidates' features where the policy uses them."""
    F = item_matrix(policy, ids, feats, policy_name)
    if F is None:
        return policy.recommend(x if policy.contextual else None, ids, k)
    return policy.recommend(x if policy.contextual else None, ids, k, item_features=F)
