"""Each agent learns a tiny world with a known optimal return; DQN and A2C beat random on CartPole."""

import gymnasium as gym
import pytest

from recloop.agents.deep import A2C, CEM, DDPG, DQN, PPO, REINFORCE, SAC, TD3, evaluate_policy

from .toy_envs import ContinuousIdentityEnv, IdentityEnv

EXPLORE_FAST = {"kind": "linear", "start": 1.0, "end": 0.02, "steps": 800}


@pytest.mark.parametrize("make_agent, steps", [
    (lambda: DQN(seed=0, hidden=(32,), learning_starts=200, train_freq=2, target_update_interval=100,
                 exploration=EXPLORE_FAST), 2000),
    (lambda: DQN(seed=1, hidden=(32,), dueling=True, n_step=3, prioritized=True, learning_starts=200,
                 target_update_interval=100, exploration=EXPLORE_FAST), 2000),
    (lambda: PPO(seed=0, hidden=(32,), n_envs=4, n_steps=64, batch_size=64, n_epochs=4, lr=3e-3), 3000),
    (lambda: A2C(seed=0, hidden=(32,), n_envs=4, n_steps=8, lr=3e-3), 3000),
    (lambda: REINFORCE(seed=0, hidden=(32,), lr=1e-2, batch_episodes=4), 3000),
    (lambda: CEM(seed=0, population=16), 1000),
], ids=["dqn", "dqn-dueling-nstep-per", "ppo", "a2c", "reinforce", "cem"])
def test_discrete_agents_learn_identity(make_agent, steps):
    env = IdentityEnv(n=3, length=10)  # optimal return 10, random 3.3
    agent = make_agent().learn(env, steps)
    res = evaluate_policy(agent, IdentityEnv(n=3, length=10), episodes=10, seed=123)
    assert res.mean_return >= 9.0, res


@pytest.mark.parametrize("make_agent", [
    lambda: DDPG(seed=0, hidden=(32, 32), learning_starts=200, batch_size=64, action_noise=0.2, gamma=0.0),
    lambda: TD3(seed=0, hidden=(32, 32), learning_starts=200, batch_size=64, action_noise=0.2, gamma=0.0),
    lambda: SAC(seed=0, hidden=(32, 32), learning_starts=200, batch_size=64, gamma=0.0),
    lambda: PPO(seed=0, hidden=(32,), n_envs=4, n_steps=64, batch_size=64, n_epochs=8, lr=3e-3, gamma=0.0,
                log_std_init=-0.5),
], ids=["ddpg", "td3", "sac", "ppo-continuous"])
def test_continuous_agents_learn_identity(make_agent):
    agent = make_agent().learn(ContinuousIdentityEnv(length=10), 1500)
    res = evaluate_policy(agent, ContinuousIdentityEnv(length=10), episodes=10, seed=123)
    assert res.mean_return >= -0.3, res  # acting 0 scores about -3.3; optimum 0


@pytest.mark.slow
@pytest.mark.parametrize("make_agent, steps", [
    (lambda: DQN(seed=0, lr=2.3e-3, learning_starts=500, train_freq=2,
                 exploration={"kind": "linear", "start": 1.0, "end": 0.04, "steps": 3000}), 8000),
    (lambda: A2C(seed=0), 8000),
], ids=["dqn", "a2c"])
def test_beats_random_on_cartpole(make_agent, steps):
    agent = make_agent().learn("CartPole-v1", steps)
    res = evaluate_policy(agent, "CartPole-v1", episodes=10, seed=7)
    assert res.mean_return >= 3 * 22.4, res  # three times a uniformly random policy (about 22.4)


def test_same_seed_same_agent():
    a = DQN(seed=3, hidden=(16,), learning_starts=50).learn(IdentityEnv(), 200)
    b = DQN(seed=3, hidden=(16,), learning_starts=50).learn(IdentityEnv(), 200)
    obs = gym.spaces.Box(0, 1, (2,)).sample()
    assert (a.q_values(obs) == b.q_values(obs)).all()


def test_dqn_with_the_gru_encoder_learns_to_recall():
    from recloop.agents.deep.networks import GRUEncoder

    from .toy_envs import RecallEnv

    from gymnasium.utils.env_checker import check_env

    check_env(RecallEnv(), skip_render_check=True)
    agent = DQN(seed=0, hidden=(32,), learning_starts=200, train_freq=2, target_update_interval=100,
                exploration=EXPLORE_FAST, gamma=0.0).learn(RecallEnv(), 2000)
    assert isinstance(agent.q_.encoder, GRUEncoder)  # (T, F) observations pick the GRU
    res = evaluate_policy(agent, RecallEnv(), episodes=10, seed=123)
    assert res.mean_return >= 9.0, res  # optimal 10, random 3.3
