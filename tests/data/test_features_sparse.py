"""Featuriser.joint_sparse: the non-zeros of joint_batch, without the dense array."""

import numpy as np
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
