"""Hybrid LinUCB: a model shared by all items plus a small model per item.

Li, Chu, Langford & Schapire (2010), Algorithm 2. The expected reward of item
``a`` for context ``x`` is ``z_a . beta + x . theta_a``, where the shared features
``z_a = vec(x f_a^T)`` cross the context with the item's own features ``f_a``.
What is learned about ``beta`` transfers to every item — new ones included —
which is what a catalogue with many items and a long tail needs. Put a constant
1 in both the context and the item features to give the shared model an
intercept and per-side main effects.
"""

from __future__ import annotations

from typing import Any, Hashable, Sequence

import numpy as np

from recloop.agents.bandits.base import BanditPolicy
from recloop.core.registry import register
from recloop.core.types import Feedback, Recommendation
from recloop.core.seeding import as_generator


@register("policy", "hybrid-linucb", "hybrid_linucb", "linucb-hybrid")
class HybridLinUCB(BanditPolicy):
    """Hybrid LinUCB. ``item_features`` (n_arms x m) gives each arm's features for the
    simulation face; serving passes them with the candidates
    (``recommend(context, ids, k, item_features=F)``) and with each reward
    (``Feedback.item_features``: the features the item had when it was shown, learned
    in place of the ones last recorded). An arm without known features uses zeros
    (only its own model then)."""

    n_features: int  # contextual: BanditPolicy.__init__ refuses n_features=None
    n_item_features: int
    A_inv_: np.ndarray  # learned per-arm state, made by _new_arms
    B_: np.ndarray
    b_: np.ndarray
    features_: np.ndarray

    contextual = True

    def __init__(self, n_arms: int | None = None, *, n_features: int | None = None, item_features: Any = None,
                 n_item_features: int | None = None, alpha: float = 1.0, l2: float = 1.0, seed: int | None = None):
        F = None if item_features is None else np.asarray(item_features, dtype=np.float64)
        if F is not None and (F.ndim != 2 or (n_arms is not None and len(F) != n_arms)):
            raise ValueError(f"item_features must be (n_arms, m); got shape {F.shape}")
        m = F.shape[1] if F is not None else n_item_features
        if m is None:
            raise ValueError("give item_features or n_item_features (length of an item's feature vector)")
        if not (alpha >= 0 and l2 > 0):
            raise ValueError("alpha must be >= 0 and l2 > 0")
        self.item_features = None if F is None else F.tolist()  # a plain list: params stay comparable and JSON-able
        self.n_item_features = int(m)
        self.alpha, self.l2 = alpha, l2
        super().__init__(n_arms if n_arms is not None or F is None else len(F), n_features=n_features, seed=seed)
        self.n_arms = n_arms
        k = self.n_features * self.n_item_features
        self.A0_inv_ = np.eye(k) / l2
        self.b0_ = np.zeros(k)
        if F is not None:
            self.features_[: len(F)] = F

    def _new_arms(self, n: int) -> dict[str, np.ndarray]:
        d, k = self.n_features, self.n_features * self.n_item_features
        return {"A_inv_": np.tile(np.eye(d) / self.l2, (n, 1, 1)), "B_": np.zeros((n, d, k)),
                "b_": np.zeros((n, d)), "features_": np.zeros((n, self.n_item_features))}

    def _shared(self, x: np.ndarray, arms: np.ndarray) -> np.ndarray:
        return (x[None, :, None] * self.features_[arms][:, None, :]).reshape(len(arms), -1)

    def _estimate(self, x: np.ndarray, arms: np.ndarray):
        """Mean and width for each arm (the paper's p_{t,a} without alpha, and s_{t,a})."""
        z = self._shared(x, arms)                     # (n, k)
        beta = self.A0_inv_ @ self.b0_
        A_inv, B = self.A_inv_[arms], self.B_[arms]  # (n, d, d), (n, d, k)
        Ax = A_inv @ x                                # A_a^{-1} x, (n, d)
        theta = np.einsum("nij,nj->ni", A_inv, self.b_[arms] - B @ beta)
        BtAx = np.einsum("ndk,nd->nk", B, Ax)         # B_a^T A_a^{-1} x, (n, k)
        A0z, A0BtAx = z @ self.A0_inv_, BtAx @ self.A0_inv_
        s = (np.einsum("nk,nk->n", z, A0z) - 2 * np.einsum("nk,nk->n", z, A0BtAx)
             + Ax @ x + np.einsum("nk,nk->n", BtAx, A0BtAx))
        return z @ beta + theta @ x, np.sqrt(np.maximum(s, 0.0))

    def _scores(self, x, arms):
        mean, width = self._estimate(x, arms)
        return mean + self.alpha * width

    def _greedy_scores(self, x, arms):
        return self._estimate(x, arms)[0]

    def _learn(self, arm: int, reward: float, x: np.ndarray | None) -> None:
        assert x is not None  # contextual: _context gives an array
        z = self._shared(x, np.array([arm]))[0]
        A_inv, B, b = self.A_inv_[arm], self.B_[arm], self.b_[arm]
        A0 = np.linalg.inv(self.A0_inv_)
        # remove this arm's old contribution to the shared statistics ...
        A0 += B.T @ A_inv @ B
        self.b0_ += B.T @ A_inv @ b
        # ... update the arm's own statistics (Sherman-Morrison for A_a^{-1}) ...
        Ax = A_inv @ x
        A_inv -= np.outer(Ax, Ax) / (1.0 + x @ Ax)
        B += np.outer(x, z)
        b += reward * x
        # ... and add the new contribution back, with this round's shared features
        A0 += np.outer(z, z) - B.T @ A_inv @ B
        self.b0_ += reward * z - B.T @ A_inv @ b
        self.A0_inv_ = np.linalg.inv(A0)

    def set_item_features(self, ids: Sequence[Hashable], features: Any) -> None:
        """Record (or refresh) the features of items by id, adding new items."""
        F = np.asarray(features, dtype=np.float64)
        if F.shape != (len(ids), self.n_item_features):
            raise ValueError(f"item features have shape {F.shape}; expected ({len(ids)}, {self.n_item_features})")
        if not np.isfinite(F).all():
            raise ValueError("item features contain NaN or infinite values")
        arms = self.item_arms(list(ids))  # may add arms, and so grow features_
        self.features_[arms] = F

    def update(self, action: Any, reward: float | None = None, obs: Any = None) -> None:
        if isinstance(action, Feedback) and action.item_features is not None:
            self.item_arms([action.item_id], add=False)  # an unknown item stays a KeyError
            self.set_item_features([action.item_id], [action.item_features])
        super().update(action, reward, obs)

    def update_many(self, feedback: Any) -> int:
        n = 0
        for fb in feedback:  # one by one: a record's features are in place before it is learned
            if fb.item_features is not None:
                self.set_item_features([fb.item_id], [fb.item_features])
            n += super().update_many((fb,))
        return n

    def recommend(self, context: Any, candidates: Sequence[Hashable], k: int = 1, *,
                  item_features: Any = None) -> Recommendation:
        if item_features is not None:
            self.set_item_features(list(candidates), item_features)
        return super().recommend(context, candidates, k)

    @classmethod
    def conformance_case(cls, seed: int):
        F = as_generator(seed).normal(size=(4, 2))
        return cls(n_arms=4, n_features=3, item_features=F, seed=seed), lambda rng: rng.normal(size=3)
