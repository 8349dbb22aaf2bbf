"""Q-learning, SARSA and Expected SARSA: exact updates, known learning outcomes, the protocol."""

import pickle

import numpy as np
import pytest

from recloop.agents.tabular import SARSA, ExpectedSARSA, QLearning, TabularAgent, evaluate
from recloop.core.registry import make, names
from recloop.core.types import Feedback
from recloop.envs.gridworld import Maze

AGENTS = [QLearning, SARSA, ExpectedSARSA]


def greedy_rows(env, agent, limit=60):
    """Rows visited by the greedy policy from the start, and whether it reached a terminal."""
    s, _ = env.reset(seed=0)
    rows = [env.cells[s][0]]
    for _ in range(limit):
        s, _, terminated, _, _ = env.step(agent.act(s, explore=False))
        rows.append(env.cells[s][0])
        if terminated:
            return rows, True
    return rows, False


def test_registered_names():
    assert {"q-learning", "sarsa", "expected-sarsa", "dyna-q"} <= set(names("policy", aliases=True))
    agent = make("policy", "q-learning", n_states=3, n_actions=2, seed=1)
    assert isinstance(agent, QLearning)


def test_one_step_targets_by_hand():
    q = QLearning(3, 2, gamma=0.5, alpha=0.5, epsilon=0.0, seed=0)
    q.q_[1] = [2.0, 4.0]
    assert q.update(0, 1.0, 0, next_obs=1) == pytest.approx(1 + 0.5 * 4)
    assert q.q_[0, 0] == pytest.approx(0.5 * 3.0)
    # terminal: no bootstrap
    q.update(1, 1.0, 0, next_obs=1, terminated=True)
    assert q.q_[0, 1] == pytest.approx(0.5)
    s = SARSA(3, 2, gamma=0.5, alpha=1.0, epsilon=0.0, seed=0)
    s.q_[1] = [2.0, 4.0]
    s.update(0, 1.0, 0, next_obs=1, next_action=0)
    assert s.q_[0, 0] == pytest.approx(1 + 0.5 * 2.0)
    e = ExpectedSARSA(3, 2, gamma=0.5, alpha=1.0, epsilon=0.4, seed=0)
    e.q_[1] = [2.0, 4.0]
    e.update(0, 1.0, 0, next_obs=1)
    assert e.q_[0, 0] == pytest.approx(1 + 0.5 * (0.2 * 2.0 + 0.8 * 4.0))


def test_sarsa_acts_on_the_action_it_bootstrapped_from():
    agent = SARSA(4, 3, epsilon=0.9, seed=5)
    for _ in range(50):
        agent.update(0, 0.0, 0, next_obs=2)
        drawn = agent._pending[1]
        assert agent.act(2) == drawn


@pytest.mark.parametrize("cls", AGENTS)
def test_probabilities_are_exact_epsilon_greedy(cls):
    agent = cls(2, 4, epsilon=0.2, seed=0)
    agent.q_[0] = [0.0, 1.0, 1.0, -1.0]
    p = agent.probabilities(0)
    np.testing.assert_allclose(p, [0.05, 0.45, 0.45, 0.05])
    draws = np.bincount([agent.act(0) for _ in range(20000)], minlength=4) / 20000
    np.testing.assert_allclose(draws, p, atol=0.015)
    masked = agent.probabilities(0, candidates=[0, 3])
    np.testing.assert_allclose(masked, [0.9, 0, 0, 0.1])
    assert agent.act(0, explore=False) in (1, 2)


@pytest.mark.parametrize("cls", AGENTS)
def test_learns_optimal_policy_of_deterministic_maze(cls):
    env = Maze("rooms", step_reward=-0.01)
    truth = env.solve(gamma=0.95)
    # decaying exploration (GLIE), so the on-policy learners converge to the optimal policy too
    epsilon = {"kind": "linear", "start": 0.3, "end": 0.0, "steps": 20_000}
    agent = cls(env.n_states, 4, gamma=0.95, alpha=0.5, epsilon=epsilon, seed=1)
    agent.learn(env, total_steps=25_000, seed=1)
    # every state on the greedy path from the start takes an optimal action, and the path is shortest
    s, _ = env.reset(seed=0)
    steps = 0
    for steps in range(1, 100):  # noqa: B007 - read after the loop
        a = agent.act(s, explore=False)
        assert truth.q[s, a] == pytest.approx(truth.values[s], abs=1e-9), f"suboptimal action in state {s}"
        s, _, terminated, _, _ = env.step(a)
        if terminated:
            break
    assert terminated
    assert evaluate(agent, env, episodes=1)[0] == pytest.approx(-0.01 * (steps - 1) + 1.0)


def test_q_learning_converges_to_optimal_greedy_policy_everywhere():
    env = Maze("classic", slip=0.0)
    truth = env.solve(gamma=0.9)
    agent = QLearning(env.n_states, 4, gamma=0.9, alpha=0.5, epsilon=1.0, seed=0)  # uniform behaviour: off-policy
    agent.learn(env, total_steps=20_000, seed=0)
    live = ~env.terminal
    np.testing.assert_allclose(agent.q_[live], truth.q[live], atol=1e-3)


def test_cliff_sarsa_safe_path_q_learning_edge():
    """Sutton & Barto, Example 6.6: with epsilon = 0.1 SARSA walks away from the cliff,
    Q-learning along its edge (the optimal path), and SARSA earns more while learning."""
    env = Maze("cliff")
    alpha = {"kind": "linear", "start": 0.5, "end": 0.1, "steps": 100}
    for seed in range(3):
        q = QLearning(env.n_states, 4, gamma=1.0, alpha=alpha, epsilon=0.1, seed=seed)
        s = SARSA(env.n_states, 4, gamma=1.0, alpha=alpha, epsilon=0.1, seed=seed)
        q_curve = q.learn(env, episodes=500, seed=seed)
        s_curve = s.learn(env, episodes=500, seed=seed)
        q_rows, q_done = greedy_rows(env, q)
        s_rows, s_done = greedy_rows(env, s)
        assert q_done and len(q_rows) - 1 == 13 and min(q_rows) == 2  # the edge, shortest
        assert s_done and min(s_rows) == 0 and len(s_rows) - 1 > 13  # the top row, longer
        assert s_curve.returns[-200:].mean() > q_curve.returns[-200:].mean() + 10


def test_dyna_q_learns_faster_than_q_learning():
    """Sutton & Barto, Example 8.1: planning steps shorten the episodes of a maze early on."""
    env = Maze("labyrinth", slip=0.0)
    lengths = {}
    for planning in (0, 20):
        runs = []
        for seed in range(3):
            agent = QLearning(env.n_states, 4, gamma=0.95, alpha=0.5, epsilon=0.1, planning_steps=planning, seed=seed)
            runs.append(agent.learn(env, episodes=15, seed=seed).lengths.sum())
        lengths[planning] = np.mean(runs)
    assert lengths[20] < 0.5 * lengths[0]


def test_save_load_round_trip(tmp_path):
    env = Maze("classic")
    agent = ExpectedSARSA(env.n_states, 4, alpha={"kind": "inverse_time", "scale": 2.0}, epsilon=0.3,
                          planning_steps=2, seed=4)
    agent.learn(env, episodes=20, seed=0)
    path = agent.save(tmp_path / "agent")
    back = TabularAgent.load(path)
    assert type(back) is ExpectedSARSA and back.get_params() == agent.get_params()
    np.testing.assert_array_equal(back.q_, agent.q_)
    assert [back.act(0) for _ in range(20)] == [agent.act(0) for _ in range(20)]  # rng state too
    with pytest.raises(TypeError, match="not a QLearning"):
        QLearning.load(path)
    assert pickle.loads(pickle.dumps(agent)).q_.tolist() == agent.q_.tolist()


@pytest.mark.parametrize("cls", AGENTS)
def test_same_seed_same_run(cls):
    env = Maze("classic")
    runs = [cls(env.n_states, 4, seed=9).learn(env, episodes=30, seed=2).returns for _ in range(2)]
    np.testing.assert_array_equal(*runs)


@pytest.mark.parametrize("cls", AGENTS)
def test_conformance_case(cls):
    agent, draw = cls.conformance_case(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(10):
        obs = draw(rng)
        assert agent.probabilities(obs).sum() == pytest.approx(1.0)
        agent.update(agent.act(obs), 1.0, obs)


def test_serving_face():
    agent = QLearning(3, 4, epsilon=0.2, seed=0)
    agent.q_[1] = [0.0, 3.0, 2.0, 1.0]
    rec = agent.recommend(1, [3, 1, 2], k=2)
    assert rec.items[1] in (1, 2) and len(rec.items) == 2
    assert rec.propensity == pytest.approx(agent.probabilities(1, candidates=[3, 1, 2])[rec.chosen])
    agent.update(Feedback(item_id=2, reward=1.0, context=np.int64(1)))
    assert agent.q_[1, 2] == pytest.approx(2.0 + 0.1 * (1.0 - 2.0))
    with pytest.raises(ValueError, match="unique"):
        agent.recommend(1, [1, 1])
    with pytest.raises(IndexError, match="action 7"):
        agent.recommend(1, [7])


def test_act_batch():
    agent = QLearning(5, 3, epsilon=0.0, seed=0)
    agent.q_[:, 2] = 1.0
    assert (agent.act_batch(np.arange(5)) == 2).all()
    with pytest.raises(IndexError):
        agent.act_batch(np.array([5]))


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="n_states"):
        QLearning(0, 2)
    with pytest.raises(ValueError, match="gamma"):
        SARSA(2, 2, gamma=1.2)
    with pytest.raises(ValueError, match="epsilon"):
        QLearning(2, 2, epsilon=1.5)
    with pytest.raises(ValueError, match="planning_steps"):
        QLearning(2, 2, planning_steps=-1)
    agent = QLearning(2, 2)
    with pytest.raises(IndexError, match="state 5"):
        agent.act(5)
    with pytest.raises(ValueError, match="integer"):
        agent.act(0.5)
    with pytest.raises(ValueError, match="needs a state"):
        agent.probabilities()
    with pytest.raises(ValueError, match="finite"):
        agent.update(0, float("nan"), 0)
    with pytest.raises(TypeError, match="reward is missing"):
        agent.update(0)
    with pytest.raises(ValueError, match="exactly one"):
        agent.learn(Maze("corridor"), episodes=1, total_steps=1)
    with pytest.raises(ValueError, match="does not fit"):
        agent.learn(Maze("corridor"), episodes=1)
