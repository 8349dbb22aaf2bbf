"""Session recommender: the model matches the simulator; state-aware Q-learning beats the best bandit."""

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from recloop.agents.tabular import QLearning, evaluate, policy_iteration
from recloop.envs.tabular_reco import SessionRecommender


def test_check_env_and_state_codes():
    env = SessionRecommender()
    check_env(env, skip_render_check=True)
    for s in range(env.n_states):
        assert env.encode(*env.decode(s)) == s
    P, R = env.transition_model()
    np.testing.assert_allclose(P.sum(axis=2), 1.0)


def test_model_matches_simulation():
    """Monte Carlo returns of a fixed policy agree with the exact evaluation from (P, R)."""
    env = SessionRecommender()
    rng = np.random.default_rng(0)
    policy = rng.integers(env.n_actions, size=env.n_states)
    returns = evaluate(type("Fixed", (), {"act": lambda self, s, explore=False: policy[s]})(), env,
                       episodes=6000, seed=0)
    exact = env.expected_return(policy)
    assert returns.mean() == pytest.approx(exact, abs=4 * returns.std() / np.sqrt(len(returns)))


def test_optimal_policy_personalises_and_plans():
    env = SessionRecommender()
    opt = env.optimal()
    for seg in range(env.n_segments):
        assert opt.policy[env.encode(seg, None)] == seg  # open with the segment's favourite
    assert opt.converged
    # the undiscounted optimum agrees with nearly-undiscounted policy iteration
    P, R = env.transition_model()
    pi = policy_iteration(P, R, gamma=0.999999)
    assert pi.values @ env.initial_distribution() == pytest.approx(opt.values @ env.initial_distribution(), rel=1e-4)


def test_q_learning_beats_best_global_bandit():
    env = SessionRecommender()
    best_action, bandit_value = env.best_fixed_action()
    assert best_action == env.mainstream
    optimum = env.optimal().values @ env.initial_distribution()
    for seed in range(3):
        agent = QLearning(env.n_states, env.n_actions, gamma=1.0, alpha=0.1, epsilon=0.1, seed=seed)
        agent.learn(env, episodes=2000, seed=seed)
        learned = env.expected_return(agent.greedy_policy())
        assert learned > 1.8 * bandit_value, (seed, learned, bandit_value)
        assert learned > 0.7 * optimum


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="n_categories >= n_segments"):
        SessionRecommender(n_segments=4, n_categories=4)
    with pytest.raises(ValueError, match="probability"):
        SessionRecommender(favourite=1.5)
    with pytest.raises(ValueError, match="never end"):
        SessionRecommender(stay_after_click=1.0)
    env = SessionRecommender()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="category in 0..4"):
        env.step(9)
    with pytest.raises(ValueError, match="loops forever"):
        from recloop.agents.tabular import evaluate_policy

        P = np.zeros((2, 1, 2))
        P[:, 0, 0] = 1.0
        evaluate_policy(P, np.ones((2, 1)), np.zeros(2, dtype=int), gamma=1.0)
