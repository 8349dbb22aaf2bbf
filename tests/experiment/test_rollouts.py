"""Rollout collection in this process (the Ray path is checked against it in test_ray.py)."""

import numpy as np
import pytest

from recloop.agents.bandits import LinUCB
from recloop.experiment.rollouts import Rollout, RolloutWorkers, learn_in_rounds

WORLD = {"name": "contextual", "params": {"n_arms": 8, "n_features": 4, "horizon": 50, "world_seed": 5}}


def test_episodes_are_seeded_and_the_callers_policy_is_untouched():
    policy = LinUCB(n_arms=8, n_features=4, alpha=1.0, seed=0)
    with RolloutWorkers(WORLD, n_workers=0, info_keys=("expected_reward", "optimal_reward")) as w:
        a = w.collect(policy, [3, 4, 5])
        b = w.collect(policy, [5])
    assert a.n_steps == 150 and a.obs.shape == (150, 4) and a.info["optimal_reward"].shape == (150,)
    assert a.truncated[49] and not a.truncated[:49].any()
    np.testing.assert_array_equal(a.obs[a.episode == 2], b.obs)  # episode = its seed, wherever it runs
    np.testing.assert_array_equal(a.actions[a.episode == 2], b.actions)
    assert policy.t_ == 0  # workers play a snapshot
    assert np.isclose(a.episode_returns().sum(), a.rewards.sum())
    assert Rollout.concat([a, b]).n_steps == 200


def test_the_learner_improves_round_by_round():
    policy = LinUCB(n_arms=8, n_features=4, alpha=0.5, seed=0)
    shares = []
    with RolloutWorkers(WORLD, n_workers=0, info_keys=("expected_reward", "optimal_reward")) as w:
        learn_in_rounds(policy, w, rounds=3, episodes=4, seed=0,
                        on_round=lambda r, b: shares.append(b.info["expected_reward"].sum()
                                                            / b.info["optimal_reward"].sum()))
    # round 0 plays an untrained policy (ties broken at random: about a random arm's share)
    assert shares[0] < 0.6 and shares[-1] > 0.9


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="n_workers"):
        RolloutWorkers(WORLD, n_workers=-1)
    with pytest.raises(TypeError, match="env must be"):
        RolloutWorkers(42, n_workers=0)
    with pytest.raises(KeyError, match="unknown env 'contextul'"):
        RolloutWorkers("contextul", n_workers=0)
    with RolloutWorkers(WORLD, n_workers=0) as w, pytest.raises(ValueError, match="at least one seed"):
        w.collect(LinUCB(n_arms=8, n_features=4, alpha=1.0), [])
    with pytest.raises(ValueError, match="rounds and episodes"):
        learn_in_rounds(None, None, rounds=0, episodes=1)
