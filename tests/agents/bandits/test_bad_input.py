import numpy as np
import pytest

from recloop.agents.bandits import UCB1, EpsilonGreedy, LinUCB, ThompsonSampling
from recloop.core.registry import make


def test_before_any_data_probabilities_are_uniform_not_an_error():
    for policy in (UCB1(n_arms=4), ThompsonSampling(n_arms=4, seed=0), EpsilonGreedy(n_arms=4, epsilon=0.2)):
        np.testing.assert_allclose(policy.probabilities(), 0.25, atol=0.03)
    np.testing.assert_allclose(LinUCB(n_arms=4, n_features=2).probabilities(np.ones(2)), 0.25)


def test_a_policy_with_no_arms_says_how_to_get_some():
    with pytest.raises(RuntimeError, match="no arms yet.*n_arms.*candidates"):
        UCB1().probabilities()
    policy = UCB1()
    policy.recommend(None, ["a", "b"])  # serving adds arms as items appear
    assert policy.probabilities().shape == (2,)


def test_unknown_policy_name_and_bad_hyper_parameters():
    with pytest.raises(KeyError, match="unknown policy 'linucbb'.*Did you mean"):
        make("policy", "linucbb")
    with pytest.raises(ValueError, match="contextual: pass n_features"):
        LinUCB(n_arms=3)
    with pytest.raises(ValueError, match="n_arms must be a positive integer"):
        UCB1(n_arms=0)
    with pytest.raises(ValueError, match="epsilon schedule gave 1.5"):
        EpsilonGreedy(n_arms=2, epsilon=1.5).act()


def test_batch_inputs_are_checked_whole_before_anything_is_learned():
    policy = LinUCB(n_arms=3, n_features=2)
    before = policy.A_inv_.copy()
    with pytest.raises(ValueError, match="NaN"):
        policy.update_batch([0, 1], [1.0, np.nan], np.ones((2, 2)))
    with pytest.raises(IndexError, match="out of range"):
        policy.update_batch([0, 7], [1.0, 0.0], np.ones((2, 2)))
    with pytest.raises(ValueError, match="context batch has shape"):
        policy.update_batch([0, 1], [1.0, 0.0], np.ones((2, 3)))
    with pytest.raises(ValueError, match="equal length"):
        policy.update_batch([0, 1, 2], [1.0, 0.0], np.ones((3, 2)))
    np.testing.assert_array_equal(policy.A_inv_, before)
    assert policy.t_ == 0


def test_candidate_masks_and_ranges():
    policy = UCB1(n_arms=3)
    assert policy.act(candidates=[2]) == 2
    assert policy.act(candidates=np.array([False, True, False])) == 1
    with pytest.raises(IndexError, match="candidate arm out of range"):
        policy.act(candidates=[5])
    with pytest.raises(ValueError, match="mask has shape"):
        policy.act(candidates=np.array([True, False]))
    with pytest.raises(ValueError, match="no candidate arms"):
        policy.act(candidates=[])
