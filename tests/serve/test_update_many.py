"""``BanditPolicy.update_many``: the server's way to learn from joined records."""

import numpy as np

from recloop.core.registry import make
from recloop.core.types import Feedback


def _records(n, d, seed=0):
    rng = np.random.default_rng(seed)
    return [Feedback(f"item-{rng.integers(5)}", float(rng.random() < 0.5), rng.normal(size=d)) for _ in range(n)]


def test_batching_does_not_change_the_learned_state():
    recs = _records(200, 4)
    whole = make("policy", "linucb", n_features=4)
    whole.update_many(recs)
    pieces = make("policy", "linucb", n_features=4)
    for lo in range(0, 200, 7):
        pieces.update_many(recs[lo:lo + 7])
    for item in whole.item_ids_:
        a, b = whole._index[item], pieces._index[item]
        assert np.array_equal(whole.A_inv_[a], pieces.A_inv_[b])
        assert np.array_equal(whole.b_[a], pieces.b_[b])
    assert whole.t_ == pieces.t_ == 200


def test_unknown_items_get_fresh_arms_and_bad_rewards_are_refused():
    p = make("policy", "thompson")
    assert p.update_many([Feedback("new", 1.0)]) == 1
    assert p.item_ids_ == ["new"]
    try:
        p.update_many([Feedback("new", float("nan"))])
    except ValueError as err:
        assert "finite" in str(err)
    else:
        raise AssertionError("NaN reward accepted")
