"""Reward models, confidence intervals, and the all-estimators suite on synthetic worlds."""

from __future__ import annotations

import numpy as np
import pytest

from recloop.ope import (
    LogisticRegression, RidgeRegression, bootstrap, dr, estimate_q, evaluate_all, ips, normal, on_sample_truth,
)
from recloop.ope.synthetic import AdditiveSlateWorld, ContextualWorld, epsilon_greedy_policy, softmax_policy


def test_ridge_matches_the_closed_form():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    y = X @ [1.0, -2.0, 0.5] + 3 + 0.1 * rng.normal(size=50)
    Z = np.hstack([X, np.ones((50, 1))])
    pen = np.diag([2.0, 2.0, 2.0, 0.0])
    want = np.linalg.solve(Z.T @ Z + pen, Z.T @ y)
    np.testing.assert_allclose(RidgeRegression(alpha=2.0).fit(X, y).coef_, want, rtol=1e-8)


def test_logistic_recovers_coefficients():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20_000, 2))
    beta = np.array([1.5, -1.0])
    y = (rng.random(20_000) < 1 / (1 + np.exp(-(X @ beta - 0.5)))).astype(float)
    coef = LogisticRegression(alpha=1e-3).fit(X, y).coef_
    np.testing.assert_allclose(coef, [1.5, -1.0, -0.5], atol=0.08)
    with pytest.raises(ValueError, match="0/1"):
        LogisticRegression().fit(X[:3], [0.0, 0.5, 1.0])


class _MeanModel:
    """The simplest sklearn-style model: predicts the training mean."""

    def fit(self, X, y):
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


def test_estimate_q_accepts_any_fit_predict_object_and_cross_fits():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 2))
    a = rng.integers(0, 3, 300)
    r = a.astype(float)  # action k always pays k
    q = estimate_q(X, a, r, 3, model=_MeanModel())
    np.testing.assert_allclose(q, np.tile([0.0, 1.0, 2.0], (300, 1)))
    q_cf = estimate_q(X, a, r, 4, n_folds=3, seed=0)  # action 3 never logged: overall mean
    np.testing.assert_allclose(q_cf[:, :3], np.tile([0.0, 1.0, 2.0], (300, 1)), atol=1e-6)
    np.testing.assert_allclose(q_cf[:, 3], r.mean(), atol=0.2)
    with pytest.raises(ValueError, match="mismatched"):
        estimate_q(X[:10], a, r, 3)


def test_normal_intervals_cover_about_95_percent():
    """IPS on a small contextual world: 400 independent log sets, coverage of the true value."""
    world = ContextualWorld(n_actions=4, n_features=2, seed=0)
    behaviour = softmax_policy(world, temperature=0.5, noise=0.5, seed=1)
    target = epsilon_greedy_policy(world, epsilon=0.2)
    truth = world.value(target, n=400_000)
    hits = []
    for rep in range(400):
        logs = world.logs(behaviour, 500, seed=100 + rep)
        est = ips(logs.reward, logs.action, logs.propensity, target(logs.context))
        hits.append(est.ci_low <= truth <= est.ci_high)
    assert 0.91 <= np.mean(hits) <= 0.98


def test_bootstrap_interval_is_close_to_normal_for_a_mean():
    world = ContextualWorld(n_actions=3, n_features=2, reward="gaussian", seed=4)
    logs = world.logs(softmax_policy(world, temperature=1.0), 3000, seed=5)
    pe = softmax_policy(world, temperature=0.3)(logs.context)
    q = estimate_q(logs.context, logs.action, logs.reward, 3)
    est = dr(logs.reward, logs.action, logs.propensity, pe, q)
    boot = bootstrap(dr, logs.reward, logs.action, logs.propensity, pe, q, n_boot=300, seed=1)
    assert boot.ci_method == "bootstrap" and boot.value == est.value
    assert boot.ci_high - boot.ci_low == pytest.approx(est.ci_high - est.ci_low, rel=0.2)
    wide = normal(est, level=0.99)
    assert wide.ci_high - wide.ci_low > est.ci_high - est.ci_low
    with pytest.raises(ValueError, match="level"):
        normal(est, level=1.5)


def test_suite_recovers_the_truth_on_a_contextual_world():
    world = ContextualWorld(n_actions=5, n_features=3, seed=7)
    logs = world.logs(softmax_policy(world, temperature=0.3, noise=1.0, seed=1), 20_000, seed=8)
    target = softmax_policy(world, temperature=0.1, noise=0.5, seed=2)
    pe = target(logs.context)
    truth = on_sample_truth(logs, pe)
    ests = {e.estimator: e for e in evaluate_all(logs, pe, max_weight=20.0)}
    assert {"replay", "ips", "snips", "dm", "dr", "sndr", "switch_dr", "dr_os", "clipped_ips", "clipped_dr"} <= set(ests)
    for name in ("ips", "snips", "dr", "sndr"):
        assert abs(ests[name].value - truth) < 4 * ests[name].stderr + 0.01, name
    assert ests["dr"].stderr < ests["ips"].stderr  # the control variate pays


def test_suite_on_additive_slates_and_bootstrap_mode():
    world = AdditiveSlateWorld(n_positions=3, n_actions=4, seed=0)
    logs = world.logs(world.policy(temperature=0.5, seed=1), 5000, seed=2)
    pe = world.policy(temperature=0.3, noise=0.2, seed=3)(logs.context)
    truth = on_sample_truth(logs, pe)
    ests = {e.estimator: e for e in evaluate_all(logs, pe, ci="bootstrap", n_boot=50)}
    assert set(ests) == {"slate_ips", "independent_ips", "pseudo_inverse", "rips", "cascade_dr"}
    for e in ests.values():
        assert e.ci_method == "bootstrap"
        assert abs(e.value - truth) < 4 * e.stderr + 0.02, e.estimator


def test_suite_rejects_wrongly_shaped_targets():
    world = ContextualWorld(n_actions=3, n_features=2, seed=0)
    logs = world.logs(softmax_policy(world, temperature=1.0), 100, seed=1)
    with pytest.raises(ValueError, match="target_probs has shape"):
        evaluate_all(logs, np.full((100, 4), 0.25))
    with pytest.raises(ValueError, match="ci must be"):
        evaluate_all(logs, np.full((100, 3), 1 / 3), ci="exact")


def test_variable_candidate_sets_get_a_per_item_model_and_policy_probabilities():
    """Action index k is a different item in each event: the reward model must follow item ids."""
    from recloop.core.registry import make
    from recloop.data.logs import LoggedFeedback
    from recloop.ope.reward_model import estimate_q_by_item
    from recloop.ope.suite import target_probabilities

    rng = np.random.default_rng(0)
    catalogue = np.array(["a", "b", "c", "d"], dtype=object)
    pays = {"a": 0.0, "b": 1.0, "c": 2.0, "d": 3.0}
    n = 400
    cands = np.array([rng.permutation(catalogue)[:3] for _ in range(n)], dtype=object)
    action = rng.integers(0, 3, n)
    reward = np.array([pays[c] for c in cands[np.arange(n), action]])
    logs = LoggedFeedback.from_arrays(action=action, reward=reward, propensity=np.full(n, 1 / 3), candidates=cands)
    q = estimate_q_by_item(logs.context, logs.action, logs.reward, logs.candidates, logs.candidate_mask,
                           model=RidgeRegression(alpha=1e-9))
    np.testing.assert_allclose(q, np.vectorize(pays.get)(cands), atol=1e-6)
    pe = target_probabilities(make("policy", "random", seed=0), logs)
    np.testing.assert_allclose(pe, 1 / 3)
    dm = next(e for e in evaluate_all(logs, pe) if e.estimator == "dm")
    truth = np.mean([np.mean([pays[c] for c in row]) for row in cands])
    assert dm.value == pytest.approx(truth, abs=1e-6)
