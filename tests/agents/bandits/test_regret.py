"""Learning against known truth: regret bounds, recovery after change, linear worlds."""

import numpy as np
import pytest

from recloop.agents.bandits import (
    DiscountedThompsonSampling, DiscountedUCB, EpsilonGreedy, LinTS, LinUCB, SlidingWindowUCB,
    ThompsonSampling, UCB1, UniformRandom,
)
from recloop.envs.bandits import ContextualBandit

MEANS = np.array([0.3, 0.5, 0.7])


def regret_curve(policy, means_at, horizon, seed):
    """Pseudo-regret after each round of a Bernoulli world whose means may change."""
    rng = np.random.default_rng(seed)
    gaps = np.empty(horizon)
    for t in range(horizon):
        m = means_at(t)
        a = policy.act()
        policy.update(a, float(rng.random() < m[a]))
        gaps[t] = m.max() - m[a]
    return np.cumsum(gaps)


def mean_regret(make, horizon=10_000, seeds=5):
    return np.mean([regret_curve(make(s), lambda t: MEANS, horizon, 100 + s) for s in range(seeds)], axis=0)


@pytest.mark.parametrize("make", [lambda s: UCB1(n_arms=3, seed=s), lambda s: ThompsonSampling(n_arms=3, seed=s)],
                         ids=["UCB1", "Thompson"])
def test_regret_grows_logarithmically_and_far_below_constant_epsilon(make):
    r = mean_regret(make)
    greedy = mean_regret(lambda s: EpsilonGreedy(n_arms=3, epsilon=0.1, seed=s))
    # Auer et al. (2002), Theorem 1: R(T) <= sum_k 8 ln T / gap_k + (1 + pi^2/3) sum_k gap_k
    gaps = MEANS.max() - MEANS[:-1]
    for T in (1_000, 10_000):
        assert r[T - 1] <= np.sum(8 * np.log(T) / gaps) + (1 + np.pi**2 / 3) * gaps.sum()
    # logarithmic growth adds the same regret over every doubling of the rounds;
    # linear growth would add five times more over [5k, 10k] than over [1k, 2k]
    assert r[9_999] - r[4_999] < 2.0 * (r[1_999] - r[999])
    assert r[9_999] / r[999] < 3.0
    # constant epsilon pays epsilon * mean gap every round, for ever
    assert r[-1] < 0.5 * greedy[-1]
    assert greedy[9_999] / greedy[999] > 5


def degrading_means(t):
    """The long-time favourite degrades (0.7 -> 0.3) at round 2,000; the runner-up stays at 0.5."""
    return np.array([0.7, 0.5]) if t < 2_000 else np.array([0.3, 0.5])


def share_of_new_best(make, seeds=8):
    """Share of rounds 2,500-3,000 (after the change) spent on the new best arm."""
    shares = []
    for s in range(seeds):
        policy = make(s)
        rng = np.random.default_rng(s)
        picks = []
        for t in range(3_000):
            a = policy.act()
            policy.update(a, float(rng.random() < degrading_means(t)[a]))
            picks.append(a)
        shares.append(np.mean(np.array(picks[2_500:]) == 1))
    return float(np.mean(shares))


def test_forgetting_policies_recover_after_a_change_point_where_stationary_ones_do_not():
    adaptive = {
        "SW-UCB": share_of_new_best(lambda s: SlidingWindowUCB(n_arms=2, window=200, seed=s)),
        "D-UCB": share_of_new_best(lambda s: DiscountedUCB(n_arms=2, discount=0.98, seed=s)),
        "D-TS": share_of_new_best(lambda s: DiscountedThompsonSampling(n_arms=2, discount=0.98, seed=s)),
    }
    stationary = {
        "UCB1": share_of_new_best(lambda s: UCB1(n_arms=2, seed=s)),
        "Thompson": share_of_new_best(lambda s: ThompsonSampling(n_arms=2, seed=s)),
    }
    # 2,000 rounds of evidence for the old favourite keep the stationary estimates inflated
    assert min(adaptive.values()) > 0.7, adaptive
    assert max(stationary.values()) < 0.4, stationary


@pytest.mark.parametrize("cls,kw", [(LinUCB, {"alpha": 0.5}), (LinTS, {"v": 0.1})], ids=["LinUCB", "LinTS"])
def test_linear_policies_reach_90_percent_of_the_oracle(cls, kw):
    env = ContextualBandit(n_arms=10, n_features=5, horizon=4_000, link="linear", world_seed=1)
    shares, random_shares = [], []
    for seed in range(3):
        for policy, out in ((cls(n_arms=10, n_features=5, seed=seed, **kw), shares),
                            (UniformRandom(n_arms=10, seed=seed), random_shares)):
            obs, _ = env.reset(seed=seed)
            got = best = 0.0
            for t in range(4_000):
                a = policy.act(obs)
                nxt, r, _, _, info = env.step(a)
                policy.update(a, r, obs)
                if t >= 2_000:
                    got += info["expected_reward"]
                    best += info["optimal_reward"]
                obs = nxt
            out.append(got / best)
    assert np.mean(shares) >= 0.90, shares
    assert np.mean(random_shares) < 0.75


def test_batched_updates_equal_one_by_one_updates():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    arms = rng.integers(0, 5, size=300)
    rewards = rng.random(300)
    one, many = LinUCB(n_arms=5, n_features=4), LinUCB(n_arms=5, n_features=4)
    for x, a, r in zip(X, arms, rewards):
        one.update(int(a), float(r), x)
    many.update_batch(arms, rewards, X)
    np.testing.assert_allclose(one.A_inv_, many.A_inv_, atol=1e-10)
    np.testing.assert_allclose(one.theta_, many.theta_, atol=1e-10)
    assert one.t_ == many.t_ == 300


def test_act_batch_equals_act_for_a_fixed_state():
    rng = np.random.default_rng(1)
    p = LinUCB(n_arms=6, n_features=3, seed=0)
    X = rng.normal(size=(200, 3))
    p.update_batch(rng.integers(0, 6, 200), rng.random(200), X)
    Y = rng.normal(size=(50, 3))
    np.testing.assert_array_equal(p.act_batch(Y), [p.act(y) for y in Y])
