"""Identities between estimators (hypothesis), diagnostics, and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recloop.ope import (
    UnsupportedActionWarning, cascade_dr, dm, dr, dr_os, ips, pseudo_inverse, replay, slate_ips, sndr, snips,
    switch_dr,
)

# Small random logs rarely show every action; the support warning has its own test below.
pytestmark = pytest.mark.filterwarnings("ignore::recloop.ope.estimate.UnsupportedActionWarning")


@st.composite
def bandit_data(draw, min_n=2, max_n=30):
    n = draw(st.integers(min_n, max_n))
    K = draw(st.integers(2, 5))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    pb = rng.dirichlet(np.ones(K), n) * 0.9 + 0.1 / K  # full support
    pe = rng.dirichlet(np.ones(K) * 0.5, n)
    a = np.array([rng.choice(K, p=p) for p in pb])
    r = rng.normal(size=n)
    q = rng.normal(size=(n, K))
    return r, a, pb[np.arange(n), a], pe, q


@settings(max_examples=60, deadline=None)
@given(bandit_data())
def test_dr_with_zero_model_is_ips(data):
    r, a, p, pe, q = data
    assert dr(r, a, p, pe, np.zeros_like(q)).value == pytest.approx(ips(r, a, p, pe).value, abs=1e-10)


@settings(max_examples=60, deadline=None)
@given(bandit_data())
def test_dr_with_exact_model_is_dm(data):
    r, a, p, pe, q = data
    r_exact = q[np.arange(len(a)), a]  # rewards equal to the model's prediction: zero residuals
    assert dr(r_exact, a, p, pe, q).value == pytest.approx(dm(r_exact, a, p, pe, q).value, abs=1e-10)


@settings(max_examples=60, deadline=None)
@given(bandit_data())
def test_snips_equals_ips_when_weights_average_one(data):
    r, a, p, pe, q = data
    n, K = pe.shape
    w = pe[np.arange(n), a] / p
    if w.sum() <= 1e-9:
        return
    # rescale the logged action's target probability so the weights average exactly 1
    scale = n / w.sum()
    pe2 = pe.copy()
    pe2[np.arange(n), a] *= scale
    if (pe2[np.arange(n), a] > 1).any():
        return
    other = np.ones((n, K), dtype=bool)
    other[np.arange(n), a] = False
    rest = 1 - pe2[np.arange(n), a]
    pe2[other] = np.repeat(rest / (K - 1), K - 1)
    assert snips(r, a, p, pe2).value == pytest.approx(ips(r, a, p, pe2).value, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(bandit_data())
def test_switch_and_shrinkage_interpolate_between_dm_and_dr(data):
    r, a, p, pe, q = data
    d, m = dr(r, a, p, pe, q).value, dm(r, a, p, pe, q).value
    assert switch_dr(r, a, p, pe, q, tau=np.inf).value == pytest.approx(d)
    assert switch_dr(r, a, p, pe, q, tau=0.0).value == pytest.approx(m)
    assert dr_os(r, a, p, pe, q, lam=np.inf).value == pytest.approx(d)
    assert dr_os(r, a, p, pe, q, lam=0.0).value == pytest.approx(m)
    assert sndr(r, a, p, pe, q).value == pytest.approx(snips(r - q[np.arange(len(a)), a], a, p, pe).value + m)


@settings(max_examples=60, deadline=None)
@given(bandit_data())
def test_slate_of_one_reduces_to_ips_and_dr(data):
    r, a, p, pe, q = data
    pe_logged = pe[np.arange(len(a)), a]
    v = ips(r, a, p, pe).value
    assert pseudo_inverse(r, p[:, None], pe_logged[:, None]).value == pytest.approx(v, abs=1e-10)
    assert slate_ips(r, p, pe_logged).value == pytest.approx(v, abs=1e-10)
    cdr = cascade_dr(r[:, None], a[:, None], p[:, None], pe[:, None, :], q[:, None, :]).value
    assert cdr == pytest.approx(dr(r, a, p, pe, q).value, abs=1e-10)


def test_clipping_diagnostics():
    r = np.ones(4)
    a = np.zeros(4, dtype=int)
    p = np.array([0.1, 0.5, 0.5, 1.0])
    pe = np.tile([1.0, 0.0], (4, 1))
    est = ips(r, a, p, pe, max_weight=5.0)
    assert est.value == pytest.approx((5 + 2 + 2 + 1) / 4)
    assert est.diagnostics.max_weight == 5.0 and est.diagnostics.clipped_share == 0.25
    w = np.array([5, 2, 2, 1.0])
    assert est.diagnostics.ess == pytest.approx(w.sum() ** 2 / (w**2).sum())
    assert ips(r, a, p, pe).diagnostics.max_weight == pytest.approx(10.0)


def test_replay_matches_li_et_al_under_uniform_logging():
    """Uniform logging + deterministic target: keep exactly the matching events."""
    rng = np.random.default_rng(3)
    n, K = 2000, 4
    a = rng.integers(0, K, n)
    r = rng.random(n)
    target = rng.integers(0, K, n)
    pe = np.eye(K)[target]
    est = replay(r, a, np.full(n, 1 / K), pe, seed=0)
    assert est.value == pytest.approx(r[a == target].mean()) and est.n == int((a == target).sum())


def test_never_logged_actions_warn_and_report_mass():
    r = np.array([1.0, 0.0, 1.0])
    a = np.array([0, 0, 1])
    p = np.full(3, 0.5)
    pe = np.tile([0.2, 0.2, 0.6], (3, 1))  # action 2 never appears in the logs
    with pytest.warns(UnsupportedActionWarning, match="60.0%"):
        est = ips(r, a, p, pe)
    assert est.diagnostics.unsupported_mass == pytest.approx(0.6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dm(r, a, p, pe, np.zeros((3, 3)))  # the model-only estimator does not need support


@pytest.mark.parametrize("fn", [ips, snips, replay])
@pytest.mark.parametrize("bad, message", [
    ({"p": [0.5, 0.0]}, r"\(0, 1\]"),
    ({"p": [0.5, np.nan]}, "missing"),
    ({"p": [0.5]}, "mismatched lengths"),
    ({"a": [0, 2]}, "unknown action"),
    ({"pe": [[0.5, 0.6], [0.5, 0.5]]}, "sum to 1"),
    ({"r": [], "a": [], "p": [], "pe": np.zeros((0, 2))}, "empty"),
])
def test_bad_input_is_named(fn, bad, message):
    args = {"r": [1.0, 0.0], "a": [0, 1], "p": [0.5, 0.5], "pe": [[1.0, 0.0], [1.0, 0.0]]}
    args.update(bad)
    with pytest.raises(ValueError, match=message):
        fn(args["r"], np.asarray(args["a"], dtype=np.int64), args["p"], args["pe"])


def test_model_estimators_need_a_matching_q_hat():
    args = ([1.0, 0.0], np.array([0, 1]), [0.5, 0.5], [[1.0, 0.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match="q_hat has shape"):
        dr(*args, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="tau"):
        switch_dr(*args, np.zeros((2, 2)), tau=-1.0)


def test_slate_bad_input():
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        pseudo_inverse([1.0], [[0.5, 0.0]], [[0.5, 0.5]])
    with pytest.raises(ValueError, match="shape"):
        pseudo_inverse([1.0, 2.0], [[0.5, 0.5]], [[0.5, 0.5]])
    with pytest.raises(ValueError, match="empty"):
        slate_ips([], [], [])
