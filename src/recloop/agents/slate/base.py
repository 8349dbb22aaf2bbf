"""What every slate policy shares: observation handling, epsilon exploration with exact
slate propensities, the single-user / batch / serving faces, save and load.

A concrete policy implements ``_greedy_slates(user, doc) -> [B, S]`` and, if it
learns, ``observe(transitions)`` (a batch of logged slate transitions, see
:func:`recloop.agents.slate.training.train`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable

import numpy as np

from recloop.agents.slate.slates import count_slates, enumerate_slates
from recloop.core.seeding import as_generator
from recloop.core.types import Recommendation
from recloop.envs.slate.base import check_sizes, check_slates


@dataclass(frozen=True, slots=True)
class SlateDecision:
    """Slates ``[B, S]`` chosen for a batch of users and the probability of each (for logging / OPE)."""

    slates: np.ndarray
    propensities: np.ndarray


def obs_arrays(obs: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(user [B, Du], doc [B, K, D], batched)`` from a single or batched observation dict."""
    try:
        user, doc = np.asarray(obs["user"], np.float32), np.asarray(obs["doc"], np.float32)
    except (TypeError, KeyError, IndexError):
        raise ValueError("a slate observation is a dict with 'user' and 'doc' arrays") from None
    if doc.ndim == 2:
        return user[None], doc[None], False
    if doc.ndim != 3 or user.ndim != 2 or len(user) != len(doc):
        raise ValueError(f"bad observation shapes: user {user.shape}, doc {doc.shape}")
    return user, doc, True


def affinities(user: np.ndarray, doc: np.ndarray, kind: str) -> np.ndarray:
    """The user's score of each candidate, as the choice model sees it: RecSim's ``user · doc``,
    or a constant 1 (long-term satisfaction: the user always takes the first item)."""
    if kind == "dot":
        if user.shape[-1] != doc.shape[-1]:
            raise ValueError(f"'dot' affinity needs user and document features of one size, "
                             f"got {user.shape[-1]} and {doc.shape[-1]}")
        return np.einsum("bd,bkd->bk", user.astype(np.float64), doc.astype(np.float64))
    if kind == "constant":
        return np.ones(doc.shape[:2])
    raise ValueError(f"unknown affinity {kind!r}: use 'dot' or 'constant'")


class SlatePolicy:
    """Base of slate policies: epsilon-greedy around ``_greedy_slates`` with exact propensities."""

    def __init__(self, num_candidates: int, slate_size: int, *, epsilon: float = 0.0, seed: int | None = None):
        check_sizes(num_candidates, slate_size)
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon!r}")
        self.num_candidates = int(num_candidates)
        self.slate_size = int(slate_size)
        self.epsilon = float(epsilon)
        self.seed = seed
        self.rng_ = as_generator(seed)

    # ------------------------------------------------------------ for subclasses
    def _greedy_slates(self, user: np.ndarray, doc: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def observe(self, batch: dict[str, np.ndarray]) -> dict[str, float]:
        """Learn from a batch of transitions; non-learning policies ignore it."""
        return {}

    def current_epsilon(self) -> float:
        return self.epsilon

    # ------------------------------------------------------------ simulation face
    def _check_doc(self, doc: np.ndarray) -> None:
        if doc.shape[1] != self.num_candidates:
            raise ValueError(f"observation has {doc.shape[1]} candidates; policy was built for {self.num_candidates}")

    def random_slates(self, n: int) -> np.ndarray:
        """Uniformly random ordered slates without repeats (argsort of uniform keys)."""
        return np.argsort(self.rng_.random((n, self.num_candidates)), axis=1)[:, : self.slate_size]

    def select(self, obs: Any, *, explore: bool = True) -> SlateDecision:
        user, doc, _ = obs_arrays(obs)
        self._check_doc(doc)
        B = len(doc)
        eps = self.current_epsilon() if explore else 0.0
        greedy = self._greedy_slates(user, doc) if eps < 1.0 else self.random_slates(B)
        n = count_slates(self.num_candidates, self.slate_size)
        if eps <= 0.0:
            return SlateDecision(greedy, np.ones(B))
        explore_rows = self.rng_.random(B) < eps
        slates = np.where(explore_rows[:, None], self.random_slates(B), greedy)
        same = (slates == greedy).all(axis=1)
        prop = eps / n + (1.0 - eps) * same
        return SlateDecision(slates, prop)

    def act_batch(self, obs: Any, *, explore: bool = True) -> np.ndarray:
        return self.select(obs, explore=explore).slates

    def act(self, obs: Any = None, *, explore: bool = True) -> np.ndarray:
        return self.select(obs, explore=explore).slates[0]

    def probabilities(self, obs: Any = None, *, explore: bool = True) -> np.ndarray:
        """Probability of every ordered slate (``enumerate_slates(K, S)`` order) for one observation."""
        user, doc, batched = obs_arrays(obs)
        if batched and len(doc) != 1:
            raise ValueError("probabilities() takes one observation; use select() for batches")
        all_slates = enumerate_slates(self.num_candidates, self.slate_size, True)
        eps = self.current_epsilon() if explore else 0.0
        p = np.full(len(all_slates), eps / len(all_slates))
        if eps < 1.0:
            greedy = self._greedy_slates(user, doc)[0]
            p[np.flatnonzero((all_slates == greedy).all(axis=1))[0]] += 1.0 - eps
        return p

    def slate_propensity(self, obs: Any, slates: Any, *, explore: bool = True) -> np.ndarray:
        """Probability that this policy shows ``slates`` ``[B, S]`` for ``obs`` (for OPE of logs)."""
        user, doc, _ = obs_arrays(obs)
        slates = check_slates(slates, len(doc), self.num_candidates, self.slate_size)
        eps = self.current_epsilon() if explore else 0.0
        same = (self._greedy_slates(user, doc) == slates).all(axis=1) if eps < 1.0 else np.zeros(len(doc), bool)
        return eps / count_slates(self.num_candidates, self.slate_size) + (1.0 - eps) * same

    def update(self, action: Any, reward: float | None = None, obs: Any = None) -> None:
        raise NotImplementedError("slate policies learn from transition batches: use observe() or train()")

    # ------------------------------------------------------------ serving face
    def recommend(self, context: Any, candidates: Any, k: int | None = None) -> Recommendation:
        """``context``: user features; ``candidates``: ``{item_id: features}`` (exactly num_candidates).

        ``items`` is the slate in order; ``propensities[i]`` is the probability that
        ``items[i]`` is put first (``propensities[0]``: the logged decision's propensity).
        The whole-slate propensity is :meth:`slate_propensity`.
        """
        ids: list[Hashable] = list(candidates)
        if k is not None and k != self.slate_size:
            raise ValueError(f"this policy shows slates of {self.slate_size}, asked for k={k}")
        obs = {"user": np.asarray(context, np.float32), "doc": np.stack([np.asarray(candidates[i], np.float32)
                                                                         for i in ids])}
        decision = self.select(obs, explore=True)
        slate = decision.slates[0]
        eps = self.current_epsilon()
        greedy_first = self._greedy_slates(*obs_arrays(obs)[:2])[0, 0] if eps < 1.0 else -1
        first = eps / self.num_candidates + (1.0 - eps) * (slate == greedy_first)
        return Recommendation(items=tuple(ids[i] for i in slate), scores=np.arange(len(slate), 0, -1.0),
                              propensities=first.astype(np.float64))

    def get_params(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith("_") and not k.endswith("_")}
