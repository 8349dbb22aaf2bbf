"""Metrics in the field's words: regret and rewards (bandits); ranking metrics (offline evaluation).

All are plain functions over numpy arrays.
"""

from __future__ import annotations

import numpy as np


def cumulative_regret(optimal_expected: np.ndarray, chosen_expected: np.ndarray) -> np.ndarray:
    """Pseudo-regret: running sum of (best expected reward - expected reward of the choice)."""
    gap = np.asarray(optimal_expected, dtype=np.float64) - np.asarray(chosen_expected, dtype=np.float64)
    return np.cumsum(gap)


# --- ranking metrics (offline evaluation of recommenders) live below ---


def target_ranks(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based rank of each row's target item under full ranking of ``scores`` (batch, n_items).

    Ties count against the target (pessimistic), so a model gains nothing from constant
    scores: rank = #items scoring strictly higher + #other items scoring the same.
    """
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.int64)
    if scores.ndim != 2 or len(scores) != len(targets):
        raise ValueError(f"scores must be (batch, n_items) with one target per row, got {scores.shape} "
                         f"and {targets.shape}")
    if targets.size and (targets.min() < 0 or targets.max() >= scores.shape[1]):
        raise ValueError(f"target item outside the catalogue of {scores.shape[1]} items")
    t = scores[np.arange(len(targets)), targets][:, None]
    return (scores > t).sum(1) + (scores == t).sum(1) - 1


def ranks_in_lists(ranked_lists: list, targets: list) -> np.ndarray:
    """0-based position of each target in its recommended list (``len(list)`` when absent)."""
    out = []
    for lst, t in zip(ranked_lists, targets, strict=True):
        lst = list(lst)
        out.append(lst.index(t) if t in lst else len(lst))
    return np.asarray(out, dtype=np.int64)


def _check_k(k: int) -> None:
    if int(k) < 1:
        raise ValueError(f"k must be >= 1, got {k}")


def hit_rate_at_k(ranks: np.ndarray, k: int) -> float:
    """HR@k: share of users whose target is among the top k (one target per user)."""
    _check_k(k)
    return float(np.mean(np.asarray(ranks) < k))


def ndcg_at_k(ranks: np.ndarray, k: int) -> float:
    """NDCG@k with one relevant item per user: 1/log2(rank + 2) if rank < k else 0 (ideal DCG = 1)."""
    _check_k(k)
    ranks = np.asarray(ranks, dtype=np.float64)
    return float(np.mean(np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)))


def mrr_at_k(ranks: np.ndarray, k: int) -> float:
    """MRR@k: mean of 1/(rank + 1) when the target is in the top k, else 0."""
    _check_k(k)
    ranks = np.asarray(ranks, dtype=np.float64)
    return float(np.mean(np.where(ranks < k, 1.0 / (ranks + 1.0), 0.0)))


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best items per row, best first (order among tied scores is unspecified)."""
    _check_k(k)
    scores = np.asarray(scores)
    if k > scores.shape[-1]:
        raise ValueError(f"k={k} exceeds the catalogue of {scores.shape[-1]} items")
    part = np.argpartition(-scores, k - 1, axis=-1)[..., :k]
    order = np.argsort(-np.take_along_axis(scores, part, -1), axis=-1, kind="stable")
    return np.take_along_axis(part, order, -1)


def catalogue_coverage(recommended: np.ndarray, n_items: int) -> float:
    """Share of the catalogue that appears in at least one user's recommended list."""
    rec = np.asarray(recommended, dtype=np.int64).ravel()
    if n_items < 1:
        raise ValueError("n_items must be >= 1")
    return float(np.unique(rec).size / n_items)


def ranking_metrics(ranks: np.ndarray, top_lists: np.ndarray, n_items: int, k: int = 10) -> dict[str, float]:
    """HR@k, NDCG@k, MRR@k and catalogue coverage of the top-k lists, keyed ``hr@10`` etc."""
    return {f"hr@{k}": hit_rate_at_k(ranks, k), f"ndcg@{k}": ndcg_at_k(ranks, k), f"mrr@{k}": mrr_at_k(ranks, k),
            f"coverage@{k}": catalogue_coverage(top_lists, n_items)}
