import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from recloop.core.registry import make
from recloop.envs.bandits import BernoulliBandit, ContextualBandit, DriftingBandit, GaussianBandit

ENVS = [
    lambda: BernoulliBandit(means=[0.1, 0.5, 0.9], horizon=20),
    lambda: GaussianBandit(n_arms=4, horizon=20),
    lambda: DriftingBandit(n_arms=3, horizon=50, change_every=10, drift=0.05),
    lambda: ContextualBandit(n_arms=5, n_features=4, horizon=20),
    lambda: ContextualBandit(n_arms=6, n_features=3, horizon=20, link="linear"),
]
# With n_candidates set, an ineligible arm is an error (showing an out-of-stock item is a bug),
# so check_env's random actions do not apply; test_contextual_candidates_* covers that mode.


@pytest.mark.parametrize("factory", ENVS)
def test_gymnasium_api(factory):
    check_env(factory(), skip_render_check=True)


def test_episode_truncates_at_horizon_and_reports_truth():
    env = BernoulliBandit(means=[0.2, 0.7], horizon=3)
    env.reset(seed=1)
    for t in range(3):
        _, r, term, trunc, info = env.step(0)
        assert info["expected_reward"] == 0.2 and info["optimal_reward"] == 0.7 and info["optimal_action"] == 1
        assert not term and trunc == (t == 2)


def test_bernoulli_rewards_have_the_stated_means():
    env = BernoulliBandit(means=[0.25, 0.6], horizon=10**6)
    env.reset(seed=0)
    r = np.array([env.step(1)[1] for _ in range(20000)])
    assert abs(r.mean() - 0.6) < 4 * np.sqrt(0.6 * 0.4 / 20000)


def test_same_seed_same_world_history():
    a, b = (DriftingBandit(n_arms=4, horizon=100, change_every=7, drift=0.02) for _ in range(2))
    a.reset(seed=5), b.reset(seed=5)
    for t in range(60):
        ra, rb = a.step(t % 4), b.step(t % 4)
        assert ra[1] == rb[1] and np.array_equal(a.expected_rewards(), b.expected_rewards())


def test_drifting_world_changes_at_change_points_and_stays_in_range():
    env = DriftingBandit(n_arms=5, horizon=1000, change_every=100, drift=0.0)
    env.reset(seed=0)
    before = env.expected_rewards()
    for _ in range(99):
        env.step(0)
    assert np.array_equal(env.expected_rewards(), before)
    env.step(0)
    assert not np.array_equal(env.expected_rewards(), before)
    walk = DriftingBandit(n_arms=5, horizon=5000, change_every=0, drift=0.2)
    walk.reset(seed=1)
    for _ in range(2000):
        walk.step(0)
        m = walk.expected_rewards()
        assert np.all((m >= 0) & (m <= 1))


def test_contextual_truth_is_the_logistic_model():
    env = ContextualBandit(n_arms=3, n_features=2, scale=2.0, bias=0.5, horizon=5)
    x, _ = env.reset(seed=0)
    z = env.item_features @ x
    np.testing.assert_allclose(env.expected_rewards(x), 1 / (1 + np.exp(-(2.0 * z + 0.5))))


def test_contextual_candidates_restrict_choice_and_truth():
    env = ContextualBandit(n_arms=6, n_features=3, horizon=50, n_candidates=2)
    x, info = env.reset(seed=0)
    cand = info["candidates"]
    assert len(cand) == 2
    truth = env.expected_rewards(x)
    assert np.all(np.isinf(np.delete(truth, cand)))
    outside = next(a for a in range(6) if a not in cand)
    with pytest.raises(ValueError, match="candidates"):
        env.step(outside)
    _, _, _, _, info = env.step(int(cand[0]))
    assert info["optimal_action"] in cand


@pytest.mark.parametrize("kwargs,match", [
    (dict(means=[0.5]), "at least 2"),
    (dict(means=[0.5, 1.5]), r"\[0, 1\]"),
    (dict(means=[0.5, float("nan")]), "NaN"),
    (dict(n_arms=3, means=[0.1, 0.2]), "n_arms=3"),
    (dict(), "means or n_arms"),
    (dict(n_arms=3, horizon=0), "horizon"),
])
def test_bad_world_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BernoulliBandit(**kwargs)


def test_bad_actions():
    env = BernoulliBandit(means=[0.1, 0.2], horizon=5)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="not an arm"):
        env.step(2)
    with pytest.raises(ValueError, match="link"):
        ContextualBandit(link="probit")


def test_registry_builds_envs_by_name_and_suggests():
    assert isinstance(make("env", "bernoulli", n_arms=3), BernoulliBandit)
    with pytest.raises(KeyError, match="Did you mean"):
        make("env", "bernouli", n_arms=3)


def test_scripted_schedule_changes_tastes_at_the_given_rounds():
    env = DriftingBandit(means=[0.7, 0.5], change_every=0, schedule=[[3, [0.3, 0.5]]], horizon=10)
    env.reset(seed=0)
    seen = []
    for _ in range(5):
        seen.append(env.step(0)[4]["expected_reward"])
    assert seen == [0.7, 0.7, 0.7, 0.3, 0.3]
    env.reset(seed=0)
    assert env.expected_rewards().tolist() == [0.7, 0.5]
    with pytest.raises(ValueError, match="schedule entry at round 0"):
        DriftingBandit(means=[0.7, 0.5], schedule=[[0, [0.1, 0.2]]])
    with pytest.raises(ValueError, match=r"2 means in \[0, 1\]"):
        DriftingBandit(means=[0.7, 0.5], schedule=[[5, [0.1, 0.2, 0.3]]])
