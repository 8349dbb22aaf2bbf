"""The shared featuriser: hashing rules, determinism, dense pass-through, clear errors."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recloop.data.features import Featuriser

CTX = {"user": {"age": 31, "country": "de", "tags": ["a", "b"], "hist": [0.5, 2.0]}, "device": "mobile",
       "premium": True}

names = st.text(alphabet="abcdefghij_", min_size=1, max_size=6)
scalars = st.one_of(st.integers(-1000, 1000), st.floats(-1e6, 1e6, allow_nan=False), st.booleans(),
                    st.text(alphabet="xyz", max_size=3))
contexts = st.recursive(st.dictionaries(names, scalars, max_size=4),
                        lambda inner: st.dictionaries(names, st.one_of(scalars, inner), max_size=4), max_leaves=12)


def _single(f: Featuriser, name: str, space: str = "context") -> tuple[int, float]:
    """Index and signed value of one named unit feature."""
    v = f.context({name: 1.0}) if space == "context" else f.item({name: 1.0})
    (i,) = np.flatnonzero(v)
    return int(i), float(v[i])


def test_rules_for_numbers_strings_lists_and_namespaces():
    f = Featuriser(n_features=2**20, interactions=False, seed=3)
    x = f.context(CTX)
    expected = np.zeros(2**20)
    for name, value in [("user.age", 31.0), ("user.country=de", 1.0), ("user.tags=a", 1.0), ("user.tags=b", 1.0),
                        ("user.hist[0]", 0.5), ("user.hist[1]", 2.0), ("device=mobile", 1.0), ("premium", 1.0)]:
        i, s = _single(f, name)
        expected[i] += s * value
    np.testing.assert_array_equal(x, expected)
    assert np.count_nonzero(x) == 8
    assert f.context({"premium": False}).sum() == 0  # False is the number 0


def test_context_and_item_spaces_differ_and_seed_matters():
    f = Featuriser(n_features=2**20, seed=0)
    assert _single(f, "price") != _single(f, "price", "item")
    g = Featuriser(n_features=2**20, seed=1)
    assert _single(f, "price") != _single(g, "price")


def test_signs_are_balanced():
    f = Featuriser(n_features=2**16, seed=0)
    signs = np.array([_single(f, f"feature{i}")[1] for i in range(4000)])
    assert abs(signs.mean()) < 0.05  # +-1 fair coin: sd 0.016


def test_joint_holds_context_item_and_products():
    f = Featuriser(n_features=2**20, interactions=True, seed=0)
    ctx, item = {"a": 2.0, "b": "x"}, {"price": 3.0}
    j = f.joint(ctx, item)
    base = f.context(ctx) + f.item(item)
    cross = j - base
    assert f.dim == 2**20 and j.shape == (2**20,)
    # two context coordinates x one item coordinate: two products with |value| = |2*3| and |1*3|
    assert sorted(np.abs(cross[cross != 0]).tolist()) == [3.0, 6.0]
    plain = Featuriser(n_features=2**20, interactions=False, seed=0)
    np.testing.assert_array_equal(plain.joint(ctx, item), base)


def test_joint_batch_equals_joint_row_by_row():
    f = Featuriser(n_features=256, interactions=True, seed=7)
    items = [{"price": 1.5, "cat": "shoes"}, None, {"tags": ["new", "sale"]}, {"price": -2}]
    batch = f.joint_batch(CTX, items)
    assert batch.shape == (4, f.dim)
    for r, it in enumerate(items):
        np.testing.assert_allclose(batch[r], f.joint(CTX, it))
    assert f.joint_batch(CTX, []).shape == (0, f.dim)


@pytest.mark.parametrize("ctx, message", [
    (None, "context is None"),
    ({"user": {"age": float("nan")}}, "'user.age' is not finite"),
    ({"x": [1.0, float("inf")]}, r"'x\[1\]' is not finite"),
    ({"x": None}, "'x' is null"),
    ({"x": [1, "a"]}, "'x' is a list mixing types"),
    ({"x": {1, 2}}, "'x' has unsupported type set"),
    ({3: 1.0}, "key 3"),
    ("mobile", "context is a str"),
])
def test_bad_contexts_raise_naming_the_key(ctx, message):
    with pytest.raises(ValueError, match=message):
        Featuriser(n_features=64).context(ctx)


def test_bad_candidate_is_named_in_batch():
    with pytest.raises(ValueError, match="candidate 1: item feature 'p' is not finite"):
        Featuriser(n_features=64).joint_batch({"a": 1}, [{"p": 1}, {"p": float("nan")}])


def test_flat_numeric_context_in_hashed_mode():
    f = Featuriser(n_features=2**20, interactions=False)
    x = f.context(np.array([1.0, 0.0, -2.0]))
    assert np.count_nonzero(x) == 2 and sorted(np.abs(x[x != 0])) == [1.0, 2.0]


def test_dense_passes_arrays_through_and_checks_them():
    d = Featuriser.dense(3, n_item=2, interactions=True)
    x = np.array([1.0, -2.0, 0.5])
    np.testing.assert_array_equal(d.context(x), x)
    assert d.dim == 3 + 2 + 6
    j = d.joint(x, [10.0, 20.0])
    np.testing.assert_array_equal(j[:5], [1.0, -2.0, 0.5, 10.0, 20.0])
    np.testing.assert_array_equal(j[5:], np.outer(x, [10.0, 20.0]).ravel())
    np.testing.assert_array_equal(d.contexts(np.ones((4, 3))), np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"shape \(2,\); expected \(3,\)"):
        d.context([1.0, 2.0])  # never zero-filled to [1, 2, 0]
    with pytest.raises(ValueError, match="context is None"):
        d.context(None)
    with pytest.raises(ValueError, match=r"context\[1\] is not finite"):
        d.context([1.0, np.nan, 0.0])
    with pytest.raises(ValueError, match="dense featuriser expects 3 numbers"):
        d.context({"a": 1})
    with pytest.raises(ValueError, match=r"row 2: context\[0\] is not finite"):
        d.contexts(np.array([[1.0, 1, 1], [1, 1, 1], [np.inf, 1, 1]]))
    assert Featuriser.dense(4).joint([1, 2, 3, 4], None).tolist() == [1, 2, 3, 4]


@pytest.mark.parametrize("f", [Featuriser(n_features=128, interactions=True, seed=5),
                               Featuriser.dense(4, 2, interactions=True)])
def test_round_trips_through_json_and_pickle(f):
    g = Featuriser.from_dict(json.loads(json.dumps(f.to_dict())))
    assert g == f and g.dim == f.dim
    h = pickle.loads(pickle.dumps(f))
    ctx = [1.0, 2.0, 3.0, 4.0] if f.is_dense else CTX
    feats = [1.0, 2.0] if f.is_dense else {"p": 2.0}
    np.testing.assert_array_equal(g.joint(ctx, feats), f.joint(ctx, feats))
    np.testing.assert_array_equal(h.joint(ctx, feats), f.joint(ctx, feats))


def test_bad_construction():
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="n_features must be a positive integer"):
            Featuriser(n_features=bad)
    with pytest.raises(ValueError, match="unknown featuriser kind"):
        Featuriser.from_dict({"format": 1, "kind": "bloom"})


def test_same_vectors_in_another_process():
    """A stable hash: a fresh interpreter (another PYTHONHASHSEED) gives identical vectors."""
    f = Featuriser(n_features=512, interactions=True, seed=11)
    items = [{"price": 3.0, "cat": "shoes"}, {"tags": ["x", "y"]}]
    here = f.joint_batch(CTX, items)
    code = textwrap.dedent(f"""
        import json, sys
        from recloop.data.features import Featuriser
        f = Featuriser(n_features=512, interactions=True, seed=11)
        print(json.dumps(f.joint_batch({CTX!r}, {items!r}).tolist()))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "12345", "PYTHONPATH": ":".join(sys.path)})
    np.testing.assert_array_equal(np.array(json.loads(out.stdout)), here)


@settings(max_examples=60, deadline=None)
@given(ctx=contexts, seed=st.integers(0, 2**31), data=st.data())
def test_key_order_does_not_matter(ctx, seed, data):
    f = Featuriser(n_features=32, interactions=True, seed=seed)  # small: collisions are common

    def shuffled(obj):
        if not isinstance(obj, dict):
            return obj
        keys = data.draw(st.permutations(list(obj)))
        return {k: shuffled(obj[k]) for k in keys}

    other = shuffled(ctx)
    np.testing.assert_array_equal(f.context(ctx), f.context(other))
    np.testing.assert_array_equal(f.joint(ctx, {"p": 1.5, "q": "z"}), f.joint(other, {"q": "z", "p": 1.5}))


@settings(max_examples=30, deadline=None)
@given(ctx=contexts, seed=st.integers(0, 2**31))
def test_deterministic_and_linear_in_numbers(ctx, seed):
    f = Featuriser(n_features=1024, seed=seed)
    np.testing.assert_array_equal(f.context(ctx), Featuriser(n_features=1024, seed=seed).context(ctx))
    # with one numeric feature the vector scales with the value: numbers are used as they are
    np.testing.assert_allclose(f.context({"w": 3.0}), 3.0 * f.context({"w": 1.0}))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31), m=st.integers(50, 1500))
def test_collision_rate_is_that_of_a_uniform_hash(seed, m):
    """m distinct names into n buckets: occupied buckets match n(1-(1-1/n)^m) within 5 sd."""
    n = 4096
    f = Featuriser(n_features=n, seed=seed)
    occupied = len({f._hash(b"c", f"name{k}")[0] for k in range(m)})
    p = (1 - 1 / n) ** m
    mean = n * (1 - p)
    sd = np.sqrt(max(n * p + n * (n - 1) * (1 - 2 / n) ** m - (n * p) ** 2, 0.0))  # variance of the empty count
    assert abs(occupied - mean) <= 5 * max(sd, 1.0)
