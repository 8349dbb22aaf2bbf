"""Learning in the re-ranking MDP (known answer: only fresh genres keep the user, see
``tests/conftest.py``): online DQN over candidate features, and offline CQL / behaviour cloning
from a behaviour policy's logs."""

from __future__ import annotations

import numpy as np

from recloop.agents.deep import DQN, BehaviourCloning, DiscreteCQL
from recloop.agents.deep.offline import Transitions, collect_transitions

from .toy_envs import boredom_rerank_world, play_rerank


def _uniform(obs, rng):
    return int(rng.integers(len(obs))), 1.0 / len(obs)


def test_candidate_dqn_learns_to_rotate_genres():
    env, _ = boredom_rerank_world()
    rng = np.random.default_rng(0)
    random = play_rerank(env, lambda o: rng.integers(len(o)))
    agent = DQN(network="candidates", hidden=(32, 32), gamma=0.9, learning_starts=300, batch_size=32,
                target_update_interval=200, exploration={"kind": "linear", "start": 1.0, "end": 0.05, "steps": 1500},
                seed=0).learn(env, 2500)
    learned = play_rerank(env, lambda o: agent.act(o, explore=False))
    assert learned > 1.5 * random  # random ~1.7, rotating genres ~3.1


def test_offline_cql_beats_the_behaviour_policy_and_bc_copies_it():
    env, _ = boredom_rerank_world()
    data = collect_transitions(env, _uniform, episodes=150, seed=0)
    assert isinstance(data, Transitions) and np.allclose(data.propensities, 0.2)
    behaviour = data.episode_returns().mean()
    cql = DiscreteCQL(network="candidates", hidden=(32, 32), alpha=0.1, gamma=0.9, seed=0).learn_offline(data, 2000)
    offline = play_rerank(env, lambda o: cql.act(o, explore=False))
    assert offline > 1.5 * behaviour
    bc = BehaviourCloning(network="candidates", hidden=(32, 32), seed=0).learn_offline(data, 500)
    probs = bc.probabilities(data.obs[0])  # uniform logs: the clone is close to uniform
    assert probs.shape == (5,) and np.allclose(probs, 0.2, atol=0.1)


def test_offline_learners_refuse_bad_logs():
    import pytest

    obs = np.zeros((3, 2), np.float32)
    with pytest.raises(ValueError, match="propensities"):
        Transitions(obs, np.zeros(3, np.int64), np.zeros(3), obs, np.zeros(3), np.zeros(3), np.zeros(3, np.int64),
                    np.zeros(3))
    with pytest.raises(ValueError, match="rows"):
        Transitions(obs, np.zeros(2, np.int64), np.zeros(3), obs, np.zeros(3), np.zeros(3), np.zeros(3, np.int64),
                    np.ones(3))
    data = Transitions(obs, np.array([0, 1, 3]), np.zeros(3), obs, np.zeros(3), np.zeros(3), np.zeros(3, np.int64),
                       np.ones(3))
    with pytest.raises(ValueError, match="logged actions"):
        DiscreteCQL().learn_offline(data, 10, n_actions=2)
    with pytest.raises(ValueError, match="gradient_steps"):
        BehaviourCloning().learn_offline(data, 0)
    with pytest.raises(ValueError, match="alpha"):
        DiscreteCQL(alpha=-1.0)


def test_candidate_network_has_no_dueling_head_and_saves(tmp_path):
    import pytest

    env, _ = boredom_rerank_world()
    with pytest.raises(ValueError, match="dueling"):
        DQN(network="candidates", dueling=True, learning_starts=1).learn(env, 2)
    agent = DQN(network="candidates", learning_starts=10, seed=0).learn(env, 30)
    obs, _ = env.reset(seed=0)
    again = DQN.load(agent.save(tmp_path / "dqn"))
    assert np.allclose(again.q_values(obs), agent.q_values(obs))
    cql = DiscreteCQL.load(DiscreteCQL(network="candidates", alpha=0.3, seed=0).learn_offline(
        collect_transitions(env, _uniform, episodes=3), 5).save(tmp_path / "cql"))
    assert cql.alpha == 0.3 and cql.q_values(obs).shape == (5,)
