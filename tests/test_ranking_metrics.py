"""Ranking metrics against hand-computed values on toy rankings."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recloop.metrics import (catalogue_coverage, hit_rate_at_k, mrr_at_k, ndcg_at_k, ranking_metrics,
                             ranks_in_lists, target_ranks, top_k)


def test_toy_rankings_by_hand():
    # three users; their targets sit at positions 0, 2 and 5 of their ranked lists
    lists = [[7, 1, 2, 3, 4, 5], [1, 2, 7, 3, 4, 5], [1, 2, 3, 4, 5, 7]]
    ranks = ranks_in_lists(lists, [7, 7, 7])
    assert ranks.tolist() == [0, 2, 5]
    assert hit_rate_at_k(ranks, 3) == pytest.approx(2 / 3)
    assert ndcg_at_k(ranks, 3) == pytest.approx((1 + 1 / math.log2(4)) / 3)  # (1 + 0.5) / 3
    assert mrr_at_k(ranks, 3) == pytest.approx((1 + 1 / 3) / 3)
    assert ndcg_at_k(ranks, 10) == pytest.approx((1 + 0.5 + 1 / math.log2(7)) / 3)
    assert hit_rate_at_k(ranks, 1) == pytest.approx(1 / 3)


def test_target_ranks_from_scores_and_ties():
    scores = np.array([[0.1, 0.9, 0.5, 0.3], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 2.0, 1.0]])
    # row 0: target 2 (0.5) has one better item; row 1: all tied -> pessimistic rank 3
    assert target_ranks(scores, np.array([2, 0, 2])).tolist() == [1, 3, 0]
    assert top_k(scores[0:1], 2).tolist() == [[1, 2]]


def test_coverage_and_report():
    assert catalogue_coverage(np.array([[0, 1], [1, 2]]), 10) == pytest.approx(0.3)
    rep = ranking_metrics(np.array([0, 10]), np.array([[0, 1], [0, 2]]), 4, k=2)
    assert rep == {"hr@2": 0.5, "ndcg@2": 0.5, "mrr@2": 0.5, "coverage@2": 0.75}


def test_bad_input():
    with pytest.raises(ValueError, match="k must be >= 1"):
        ndcg_at_k(np.array([0]), 0)
    with pytest.raises(ValueError, match="exceeds the catalogue"):
        top_k(np.zeros((1, 3)), 4)
    with pytest.raises(ValueError, match="outside the catalogue"):
        target_ranks(np.zeros((1, 3)), np.array([3]))
