"""Value and policy iteration against values known in closed form."""

import numpy as np
import pytest

from recloop.agents.tabular import evaluate_policy, policy_iteration, value_iteration
from recloop.envs.gridworld import Maze


@pytest.mark.parametrize("gamma", [0.5, 0.9, 0.99])
def test_corridor_values_are_discounted_sums(gamma):
    env = Maze("S.....G", step_reward=-0.1, goal_reward=1.0)
    res = value_iteration(env.P, env.R, gamma=gamma, tol=1e-12)
    # k steps from the goal: k-1 step costs, then the goal reward, discounted.
    for s in range(env.n_states - 1):
        k = env.n_states - 1 - s
        expected = sum(-0.1 * gamma**t for t in range(k - 1)) + gamma ** (k - 1) * 1.0
        assert res.values[s] == pytest.approx(expected, abs=1e-9)
    assert res.values[env.n_states - 1] == 0.0  # terminal
    assert (res.policy[:-1] == 1).all()  # always right
    assert res.converged and res.bellman_residual < 1e-12


@pytest.mark.parametrize("name", ["classic", "cliff", "rooms", "labyrinth", "corridor"])
def test_policy_iteration_agrees_with_value_iteration(name):
    env = Maze(name)
    vi = value_iteration(env.P, env.R, gamma=0.95, tol=1e-12)
    pi = policy_iteration(env.P, env.R, gamma=0.95)
    np.testing.assert_allclose(pi.values, vi.values, atol=1e-8)
    assert pi.converged
    # both policies are greedy w.r.t. the same values: each achieves the optimal value
    np.testing.assert_allclose(evaluate_policy(env.P, env.R, vi.policy, gamma=0.95), vi.values, atol=1e-8)


def test_random_mdps_agree_and_satisfy_bellman():
    rng = np.random.default_rng(3)
    for _ in range(10):
        P = rng.dirichlet(np.ones(6), size=(6, 3))
        R = rng.normal(size=(6, 3))
        vi = value_iteration(P, R, gamma=0.8, tol=1e-12)
        pi = policy_iteration(P, R, gamma=0.8)
        np.testing.assert_allclose(vi.values, pi.values, atol=1e-9)
        np.testing.assert_allclose(vi.values, (R + 0.8 * P @ vi.values).max(axis=1), atol=1e-9)


def test_undiscounted_episodic_cliff():
    env = Maze("cliff")
    res = value_iteration(env.P, env.R, gamma=1.0)
    assert res.converged
    assert res.values[env.start_state] == pytest.approx(-13.0)  # 13 steps along the edge, -1 each


def test_stochastic_policy_evaluation_matches_mixture():
    env = Maze("classic")
    uniform = np.full((env.n_states, 4), 0.25)
    v = evaluate_policy(env.P, env.R, uniform, gamma=0.9)
    q = env.R + 0.9 * env.P @ v
    np.testing.assert_allclose(v, q.mean(axis=1), atol=1e-10)


def test_bad_models_are_rejected():
    P = np.full((2, 1, 2), 0.5)
    R = np.zeros((2, 1))
    with pytest.raises(ValueError, match="shape"):
        value_iteration(P[:, :, :1], R)
    with pytest.raises(ValueError, match="R must have shape"):
        value_iteration(P, np.zeros(2))
    with pytest.raises(ValueError, match="probability distribution"):
        value_iteration(P * 2, R)
    with pytest.raises(ValueError, match="gamma"):
        policy_iteration(P, R, gamma=1.5)
    with pytest.raises(ValueError, match="finite"):
        value_iteration(P, np.full((2, 1), np.nan))
    with pytest.raises(ValueError, match="policy must have shape"):
        evaluate_policy(P, R, np.zeros(3, dtype=int), gamma=0.9)
