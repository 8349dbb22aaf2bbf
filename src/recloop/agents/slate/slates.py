"""Slate enumeration and the three slate optimisers of SlateQ (Ie et al., IJCAI 2019, sec. 4).

The value of a slate ``A`` under the item decomposition is
``V(s, A) = sum_{i in A} P(i | s, A) Q(s, i) + P(no click | s, A) Q(s, ⊥)``;
the optimisers pick the slate that maximises it from per-item values ``q``
``[B, K]``, null values ``q0`` ``[B]``, affinities ``[B, K]`` and a
:class:`~recloop.envs.slate.choice.ChoiceModel`. All work on whole batches (numpy).
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np

from recloop.envs.slate.choice import ChoiceModel


@lru_cache(maxsize=64)
def enumerate_slates(num_candidates: int, slate_size: int, ordered: bool = True) -> np.ndarray:
    """All slates ``[M, slate_size]``: ordered (permutations) or as sets (combinations, sorted)."""
    gen = itertools.permutations if ordered else itertools.combinations
    out = np.array(list(gen(range(num_candidates), slate_size)), dtype=np.int64)
    out.setflags(write=False)
    return out


def count_slates(num_candidates: int, slate_size: int) -> int:
    """Number of ordered slates ``K! / (K - S)!`` (what a uniformly random policy draws from)."""
    return int(np.prod(np.arange(num_candidates - slate_size + 1, num_candidates + 1, dtype=np.float64)))


def slate_values(choice: ChoiceModel, affinities: np.ndarray, q: np.ndarray, q0: np.ndarray,
                 slates: np.ndarray) -> np.ndarray:
    """``V(s, A)`` ``[B, M]`` of every row for each of the ``M`` shared ``slates`` ``[M, S]``."""
    probs = choice.probabilities(affinities[:, slates])          # [B, M, S + 1]
    return (probs[..., :-1] * q[:, slates]).sum(-1) + probs[..., -1] * q0[:, None]


def row_slate_values(choice: ChoiceModel, affinities: np.ndarray, q: np.ndarray, q0: np.ndarray,
                     slates: np.ndarray) -> np.ndarray:
    """``V(s_b, A_b)`` ``[B]`` for one slate per row (``slates`` is ``[B, S]``)."""
    r = np.arange(len(q))[:, None]
    probs = choice.probabilities(affinities[r, slates])
    return (probs[:, :-1] * q[r, slates]).sum(-1) + probs[:, -1] * q0


def best_slates(method: str, choice: ChoiceModel, affinities: np.ndarray, q: np.ndarray, q0: np.ndarray,
                slate_size: int) -> np.ndarray:
    """The slate ``[B, S]`` each optimiser picks: ``"exact"``, ``"greedy"`` or ``"topk"``."""
    if method == "exact":
        K = q.shape[1]
        slates = enumerate_slates(K, slate_size, ordered=not choice.position_invariant)
        values = slate_values(choice, affinities, q, q0, slates)
        return slates[values.argmax(axis=1)]
    if method == "greedy":
        return _greedy(choice, affinities, q, q0, slate_size)
    if method == "topk":
        # SlateQ's "top-k": rank items by (unnormalised choice score) x Q.
        score = choice.item_utility(affinities) * q
        return np.argsort(-score, axis=1, kind="stable")[:, :slate_size]
    raise ValueError(f"unknown slate optimiser {method!r}: use 'exact', 'greedy' or 'topk'")


def _greedy(choice: ChoiceModel, affinities: np.ndarray, q: np.ndarray, q0: np.ndarray,
            slate_size: int) -> np.ndarray:
    """Adaptive greedy: fill positions one by one, each time adding the item that maximises the
    value of the slate built so far (for proportional / logit choice this is the paper's GS rule)."""
    B, K = q.shape
    rows = np.arange(B)
    chosen = np.zeros((B, 0), dtype=np.int64)
    used = np.zeros((B, K), dtype=bool)
    cand = np.arange(K)
    for _ in range(slate_size):
        trial = np.concatenate([np.repeat(chosen[:, None, :], K, axis=1),
                                np.broadcast_to(cand[None, :, None], (B, K, 1))], axis=2)  # [B, K, p+1]
        r = rows[:, None, None]
        probs = choice.probabilities(affinities[r, trial])
        values = (probs[..., :-1] * q[r, trial]).sum(-1) + probs[..., -1] * q0[:, None]
        values[used] = -np.inf
        pick = values.argmax(axis=1)
        used[rows, pick] = True
        chosen = np.concatenate([chosen, pick[:, None]], axis=1)
    return chosen
