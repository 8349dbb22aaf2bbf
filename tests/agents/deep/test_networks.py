"""The numpy forward passes used for acting compute what the torch modules compute, with current weights."""

import numpy as np
import pytest

from recloop.agents.deep import DQN, PPO
from recloop.agents.deep._torch import torch
from recloop.agents.deep.networks import MLPEncoder, QNetwork, numpy_mlp

from .toy_envs import ContinuousIdentityEnv, IdentityEnv


@pytest.mark.parametrize("dueling", [False, True])
def test_q_network_numpy_forward_tracks_training(dueling):
    torch.manual_seed(0)
    net = QNetwork(MLPEncoder((4,), (16, 16)), 3, dueling=dueling)
    forward = net.numpy_forward()
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    for _ in range(2):  # after in-place optimiser steps and a load_state_dict the views still hold
        assert np.allclose(forward(x), net(torch.as_tensor(x)).detach().numpy(), atol=1e-5)
        net(torch.as_tensor(x)).pow(2).sum().backward()
        opt.step()
    net.load_state_dict(QNetwork(MLPEncoder((4,), (16, 16)), 3, dueling=dueling).state_dict())
    assert np.allclose(forward(x), net(torch.as_tensor(x)).detach().numpy(), atol=1e-5)


def test_numpy_mlp_declines_what_it_cannot_run():
    assert numpy_mlp(MLPEncoder((4,), (8,), dropout=0.5)) is None
    assert numpy_mlp(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Sigmoid())) is None


@pytest.mark.parametrize("env", [IdentityEnv, ContinuousIdentityEnv])
def test_actor_critic_numpy_rollout_step_matches_torch(env):
    agent = PPO(seed=0, hidden=(16,), n_envs=2, n_steps=16, batch_size=32, n_epochs=2).learn(env(), 64)
    obs = np.random.default_rng(1).uniform(0, 1, size=(6, *agent.spaces_["obs_shape"])).astype(np.float32)
    numpy_model, agent._numpy_model = agent._numpy_model, None
    state = agent.rng_.bit_generator.state
    a_torch, logp_torch, v_torch = agent._rollout_step(obs)
    agent._numpy_model, agent.rng_.bit_generator.state = numpy_model, state
    a_np, logp_np, v_np = agent._rollout_step(obs)
    assert np.allclose(a_np, a_torch, atol=1e-5) and np.allclose(v_np, v_torch, atol=1e-5)
    with torch.no_grad():  # and the log-probabilities are the ones the update recomputes
        out, _ = agent.model_(torch.as_tensor(obs))
        logp, _ = agent.model_.log_prob_entropy(out, agent._action_tensor(a_np))
    assert np.allclose(logp_np, logp.numpy(), atol=1e-5) and np.allclose(logp_np, logp_torch, atol=1e-5)


def test_dqn_acts_through_numpy_only_for_mlps():
    from .toy_envs import RecallEnv

    assert DQN(seed=0, learning_starts=10).learn(IdentityEnv(), 20)._q_numpy is not None
    assert DQN(seed=0, learning_starts=10, hidden=(8,)).learn(RecallEnv(), 20)._q_numpy is None  # GRU encoder
