"""Estimators against exact truth: expectations computed by enumerating every outcome."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from recloop.ope import (
    UnsupportedActionWarning, cascade_dr, dm, dr, independent_ips, ips, pseudo_inverse, slate_ips, sndr, snips,
)

# Two contexts, three actions: P(x), behaviour pi_b(a|x), target pi_e(a|x), mean reward q(x, a).
PX = np.array([0.3, 0.7])
PB = np.array([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]])
PE = np.array([[0.1, 0.1, 0.8], [0.7, 0.2, 0.1]])
Q = np.array([[0.2, 0.5, 0.9], [0.6, 0.1, 0.4]])
TRUE_VALUE = float(np.sum(PX[:, None] * PE * Q))


def _outcomes():
    """Every single-event outcome (x, a, r) with its probability (Bernoulli rewards)."""
    for x, a, r in itertools.product(range(2), range(3), (0.0, 1.0)):
        prob = PX[x] * PB[x, a] * (Q[x, a] if r else 1 - Q[x, a])
        yield prob, x, a, r


@pytest.fixture(autouse=True)
def _quiet_support_warnings():
    # single-event logs "never show" most actions; the support heuristic is meaningless at n = 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsupportedActionWarning)
        yield


def _expectation(estimator, **kw):
    total = 0.0
    for prob, x, a, r in _outcomes():
        args = (np.array([r]), np.array([a]), np.array([PB[x, a]]), PE[x][None])
        if "q_hat" in kw:
            args += (kw["q_hat"][x][None],)
        total += prob * estimator(*args).value
    return total


def test_ips_is_exactly_unbiased():
    assert _expectation(ips) == pytest.approx(TRUE_VALUE, abs=1e-12)


@pytest.mark.parametrize("q_hat", [np.zeros((2, 3)), Q, np.full((2, 3), 3.0), np.array([[1, 0, 0], [0, 0, 1.0]])])
def test_dr_is_exactly_unbiased_whatever_the_reward_model(q_hat):
    assert _expectation(dr, q_hat=q_hat) == pytest.approx(TRUE_VALUE, abs=1e-12)


def test_dm_is_unbiased_only_with_the_right_model():
    assert _expectation(dm, q_hat=Q) == pytest.approx(TRUE_VALUE, abs=1e-12)
    assert abs(_expectation(dm, q_hat=np.zeros((2, 3))) - TRUE_VALUE) > 0.1


# Slates: L = 2 positions, K = 2 items per position, product-form policies, additive mean reward.
SB = np.array([[0.6, 0.4], [0.3, 0.7]])  # behaviour pi_b(item | position)
SE = np.array([[0.2, 0.8], [0.9, 0.1]])  # target
PHI = np.array([[0.5, 0.2], [0.1, 0.3]])  # click probability of item k at position l
SLATE_TRUTH = float(np.sum(SE * PHI))


def _slate_outcomes():
    for s in itertools.product(range(2), repeat=2):
        for clicks in itertools.product((0.0, 1.0), repeat=2):
            prob = np.prod([SB[i, s[i]] * (PHI[i, s[i]] if clicks[i] else 1 - PHI[i, s[i]]) for i in range(2)])
            yield prob, np.array(s), np.array(clicks)


def _slate_expectation(fn):
    total = 0.0
    for prob, s, clicks in _slate_outcomes():
        pb = SB[[0, 1], s][None]
        pe = SE[[0, 1], s][None]
        total += prob * fn(s[None], clicks[None], pb, pe).value
    return total


def test_pseudo_inverse_is_unbiased_on_an_additive_slate():
    got = _slate_expectation(lambda s, c, pb, pe: pseudo_inverse(c.sum(axis=1), pb, pe))
    assert got == pytest.approx(SLATE_TRUTH, abs=1e-12)


def test_slate_ips_and_independent_ips_are_unbiased_here():
    got = _slate_expectation(lambda s, c, pb, pe: slate_ips(c.sum(axis=1), pb.prod(axis=1), pe.prod(axis=1)))
    assert got == pytest.approx(SLATE_TRUTH, abs=1e-12)
    got = _slate_expectation(lambda s, c, pb, pe: independent_ips(c, pb, pe))
    assert got == pytest.approx(SLATE_TRUTH, abs=1e-12)


@pytest.mark.parametrize("q_model", ["none", "exact", "wrong"])
def test_cascade_dr_is_unbiased_for_any_model(q_model):
    q = {"none": None, "exact": PHI, "wrong": np.array([[1.0, 0.0], [0.0, 2.0]])}[q_model]

    def fn(s, c, pb, pe):
        target = np.broadcast_to(SE, (1, 2, 2))
        return cascade_dr(c, s, pb, target, None if q is None else q[None])

    assert _slate_expectation(fn) == pytest.approx(SLATE_TRUTH, abs=1e-12)


def test_ratio_estimators_are_consistent_not_exact():
    """SNIPS/SNDR are biased at n=1 but their large-sample limit is the truth."""
    rng = np.random.default_rng(0)
    n = 200_000
    x = rng.choice(2, n, p=PX)
    u = rng.random((n, 1))
    a = (u > PB[x].cumsum(axis=1)).sum(axis=1)
    r = (rng.random(n) < Q[x, a]).astype(float)
    for est in (snips(r, a, PB[x, a], PE[x]), sndr(r, a, PB[x, a], PE[x], np.zeros((n, 3)))):
        assert abs(est.value - TRUE_VALUE) < 4 * est.stderr
