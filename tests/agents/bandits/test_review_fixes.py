"""Wrong results found in review (issue 18, item 6): each test failed before its fix."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from recloop.agents.bandits import EXP3, DiscountedThompsonSampling, LinTS, LinUCB, ThompsonSampling
from recloop.agents.bandits.base import gaussian_argmax_probs, monte_carlo_probs
from recloop.core.types import Feedback
from recloop.data.collect import collect_logs
from recloop.envs.bandits import BernoulliBandit
from recloop.planning import value_iteration


def test_linucb_scores_a_reordered_full_candidate_list_with_the_right_arms():
    p = LinUCB(n_features=1, alpha=0.0, seed=0)
    x = np.ones(1)
    p.recommend(x, ["a", "b", "c"])  # arms: a=0, b=1, c=2
    for item, reward in [("a", 1.0), ("b", 0.0), ("c", 0.2)]:
        for _ in range(5):
            p.update(Feedback(item_id=item, reward=reward, context=x))
    rec = p.recommend(x, ["b", "a", "c"], k=3)  # all arms, ending with the last one
    assert rec.items == ("a", "c", "b")
    scores = dict(zip(rec.items, rec.scores))
    assert scores["a"] > scores["c"] > scores["b"]


def test_exp3_learns_with_the_propensity_and_candidate_count_of_the_decision():
    gamma = 0.2
    p = EXP3(n_arms=4, gamma=gamma, seed=1)
    p.log_weights_[:] = [2.0, 0.0, 0.5, 0.0]
    cands = np.array([1, 2])
    arm = p.act(candidates=cands)
    prob = p.probabilities(candidates=cands)[arm]  # weights unchanged since the draw
    p.update(0, 1.0)  # another arm's reward arrives first and moves the weights
    before = p.log_weights_[arm]
    p.update(arm, 1.0)
    assert p.log_weights_[arm] - before == pytest.approx(gamma * 1.0 / (prob * 2))


def test_exp3_uses_the_logged_propensity_of_a_served_decision():
    gamma = 0.1
    p = EXP3(gamma=gamma, seed=0)
    rec = p.recommend(None, ["x", "y", "z"])
    p.log_weights_[:] = [3.0, -1.0, 0.0]  # the weights move before the reward comes back
    p.update(Feedback(item_id=rec.chosen, reward=1.0, propensity=0.25))
    arm = p._index[rec.chosen]
    expected = {0: 3.0, 1: -1.0, 2: 0.0}[arm] + gamma / (0.25 * 3)
    assert p.log_weights_[arm] == pytest.approx(expected)


def test_collect_logs_records_the_policy_version():
    env = BernoulliBandit(means=[0.2, 0.8])

    class Uniform:
        def probabilities(self, obs=None):
            return np.array([0.5, 0.5])

    logs = collect_logs(env, Uniform(), 5, seed=0, policy_version="v7")
    assert set(logs.policy_version.tolist()) == {"v7"}
    assert set(collect_logs(env, ThompsonSampling(n_arms=2), 3, seed=0).policy_version.tolist()) == {"thompson"}


def _exact_gaussian_argmax(mean, sd, i):
    others = [j for j in range(len(mean)) if j != i]

    def f(z):
        return stats.norm.pdf(z, mean[i], sd[i]) * np.prod([stats.norm.cdf(z, mean[j], sd[j]) for j in others])

    return integrate.quad(f, mean[i] - 12 * sd[i], mean[i] + 12 * sd[i], epsabs=0, epsrel=1e-10, limit=200)[0]


def test_gaussian_argmax_probabilities_are_exact_even_far_below_one_in_two_thousand():
    mean, sd = np.array([0.0, 1.0, 1.2, -0.5]), np.array([0.3, 0.2, 0.25, 0.4])
    p = gaussian_argmax_probs(mean, sd, 2000, np.random.default_rng(0))
    exact = np.array([_exact_gaussian_argmax(mean, sd, i) for i in range(4)])
    assert exact[0] < 1 / 2000 and exact[3] < 1 / 2000  # Monte Carlo with 2000 draws would say 0
    np.testing.assert_allclose(p, exact / exact.sum(), rtol=1e-3)
    assert (p > 0).all()


def test_lints_propensities_below_the_old_floor_are_positive():
    pol = LinTS(n_features=1, v=0.1, seed=0)
    x = np.ones(1)
    pol.recommend(x, ["good", "bad"])
    for _ in range(20):
        pol.update(Feedback(item_id="good", reward=1.0, context=x))
        pol.update(Feedback(item_id="bad", reward=0.0, context=x))
    rec = pol.recommend(x, ["good", "bad"], k=2)
    p_bad = rec.propensities[rec.items.index("bad")]
    assert 0 < p_bad < 1 / 2000


@pytest.mark.parametrize("policy", [ThompsonSampling(n_arms=3, seed=0), DiscountedThompsonSampling(n_arms=3, seed=0)])
def test_beta_monte_carlo_propensities_have_a_floor(policy):
    for _ in range(300):
        policy.update(0, 1.0)
        policy.update(1, 0.0)
    p = policy.probabilities()
    assert (p > 0).all()
    assert p.min() >= 0.5 / (2000 + 1.5) - 1e-12
    rng = np.random.default_rng(0)
    q = monte_carlo_probs(lambda m: np.tile([1.0, 0.0], (m, 1)), 2000, 2, rng)
    assert q[1] == pytest.approx(0.5 / 2001)


def test_value_iteration_bound_is_residual_over_one_minus_gamma():
    """One state, reward 1, gamma 0.9: after k backups |V - V*| is exactly residual / (1 - gamma),
    more than the gamma * residual / (1 - gamma) the docstring used to promise."""
    P, R, gamma = np.ones((1, 1, 1)), np.ones((1, 1)), 0.9
    res = value_iteration(P, R, gamma=gamma, max_iter=5)
    err = abs(res.values[0] - 1 / (1 - gamma))
    r = res.bellman_residual
    assert err == pytest.approx(r / (1 - gamma))
    assert err > gamma * r / (1 - gamma)
    import importlib

    vi = importlib.import_module("recloop.planning.value_iteration")
    assert "||V - V*|| <= residual / (1 - gamma)" in vi.__doc__
