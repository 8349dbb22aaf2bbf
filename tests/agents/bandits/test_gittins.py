import numpy as np
import pytest

from recloop.agents.bandits.gittins import GittinsIndex, brezzi_lai_index, gittins_index, gittins_table


@pytest.mark.parametrize("a,b,expected", [(1, 1, 0.7029), (2, 1, 0.8001), (1, 2, 0.5001)])
def test_reference_values_at_discount_0_9(a, b, expected):
    assert gittins_index(a, b, 0.9) == pytest.approx(expected, abs=1e-3)
    assert round(gittins_index(a, b, 0.9), 4) == expected


def test_index_exceeds_mean_and_grows_with_success():
    for a, b in [(1, 1), (3, 7), (10, 2)]:
        g = gittins_index(a, b, 0.95)
        assert a / (a + b) < g < 1
        assert gittins_index(a + 1, b, 0.95) > g > gittins_index(a, b + 1, 0.95)


def test_more_patience_means_a_larger_exploration_bonus():
    assert gittins_index(1, 1, 0.99) > gittins_index(1, 1, 0.9) > gittins_index(1, 1, 0.5)


def test_table_agrees_with_exact_bisection():
    table = gittins_table(1.0, 1.0, 0.9, 40)
    for s, f in [(0, 0), (1, 0), (0, 1), (5, 3), (20, 19), (0, 40), (12, 0)]:
        assert table[s, f] == pytest.approx(gittins_index(1 + s, 1 + f, 0.9), abs=2e-3)


def test_brezzi_lai_is_close_far_out():
    a, b = 151.0, 51.0
    assert brezzi_lai_index(np.array(a), np.array(b), 0.99) == pytest.approx(gittins_index(a, b, 0.99, 1e-4), abs=5e-3)


def test_policy_plays_the_highest_index_and_refuses_non_binary_rewards():
    p = GittinsIndex(n_arms=2, discount=0.9, table_pulls=20)
    for _ in range(3):
        p.update(0, 0.0)
    p.update(1, 1.0)
    assert p.act() == 1
    with pytest.raises(ValueError, match="0 or 1"):
        p.update(0, 0.5)
    with pytest.raises(ValueError, match="discount"):
        gittins_index(1, 1, 1.0)
