"""Featuriser.joint_sparse: the non-zeros of joint_batch, without the dense array."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from recloop.data.features import Featuriser

values = st.one_of(st.floats(-1e3, 1e3, allow_nan=False), st.sampled_from(["a", "b", "c"]))
feature_dicts = st.dictionaries(st.sampled_from(["x", "y", "z", "w"]), values, max_size=4)


@settings(max_examples=60, deadline=None)
@given(ctx=feature_dicts, items=st.lists(st.one_of(st.none(), feature_dicts), max_size=6),
       n=st.sampled_from([8, 64, 4096]), interactions=st.booleans(), seed=st.integers(0, 3))
def test_joint_sparse_is_joint_batch_without_the_zeros(ctx, items, n, interactions, seed):
    f = Featuriser(n, interactions, seed)
    X = f.joint_batch(ctx, items)
    r, i, v = f.joint_sparse(ctx, items)
    Y = np.zeros_like(X)
    Y[r, i] = v
    assert np.array_equal(X, Y) and (v != 0).all()
    assert (np.diff(r * n + i) > 0).all()  # row-major, each coordinate once


@settings(max_examples=60, deadline=None)
@given(ctx=feature_dicts, items=st.lists(st.one_of(st.none(), feature_dicts), max_size=6),
       interactions=st.booleans(), seed=st.integers(0, 3))
def test_items_seen_before_under_a_key_give_the_same_rows(ctx, items, interactions, seed):
    import json
    f, fresh = Featuriser(64, interactions, seed), Featuriser(64, interactions, seed)
    keys = [None if it is None else json.dumps(it) for it in items]
    want = fresh.joint_sparse(ctx, items)
    for _ in range(2):  # the second time from the remembered entries
        got = f.joint_sparse(ctx, items, keys)
        assert all(a.dtype == b.dtype and a.tobytes() == b.tobytes() for a, b in zip(want, got))


def test_an_item_refused_is_refused_again_under_its_key():
    f = Featuriser(64)
    for _ in range(2):
        with pytest.raises(ValueError, match="candidate 1: item feature 'x' is null"):
            f.joint_sparse({"u": 1.0}, [{"a": "b"}, {"x": None}], ["k1", "k2"])
