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


def test_dqn_numpy_fast_path_gives_the_torch_networks_q_values_and_only_for_mlps():
    from .toy_envs import RecallEnv

    agent = DQN(seed=0, learning_starts=10).learn(IdentityEnv(), 200)
    obs = np.random.default_rng(2).uniform(0, 1, size=(32, *agent.spaces_["obs_shape"])).astype(np.float32)
    fast = agent.q_.numpy_forward()
    assert fast is not None
    with torch.no_grad():
        q_torch = agent.q_(torch.as_tensor(obs)).numpy()
    assert np.allclose(fast(obs), q_torch, atol=1e-5)   # same values, so the same greedy actions
    assert np.array_equal(agent.act_batch(obs, explore=False), q_torch.argmax(axis=1))
    recall = DQN(seed=0, learning_starts=10, hidden=(8,)).learn(RecallEnv(), 20)
    assert recall.q_.numpy_forward() is None  # a GRU encoder has no numpy twin: torch acts


@pytest.mark.parametrize("activation,ent_coef,max_norm", [("tanh", 0.0, None), ("relu", 0.01, None),
                                                          ("tanh", 0.0, 0.05)])
def test_numpy_ppo_gradients_match_torch_autograd(activation, ent_coef, max_norm):
    from recloop.agents.deep.networks import clip_grads
    from recloop.agents.deep.onpolicy import ActorCritic
    from recloop.agents.deep.ppo_numpy import NumpyPPOGrad

    torch.manual_seed(0)
    model = ActorCritic((4,), 3, True, hidden=(16, 8), activation=activation)
    rng = np.random.default_rng(0)
    n, clip, vf_coef = 40, 0.2, 0.5
    x = rng.normal(size=(n, 4)).astype(np.float32)
    actions = rng.integers(0, 3, n)
    old_logp = (np.log(np.full(n, 1 / 3)) + rng.normal(0, 0.3, n)).astype(np.float32)  # some ratios clip
    adv, returns = rng.normal(size=n).astype(np.float32), rng.normal(size=n).astype(np.float32)
    out, values = model(torch.as_tensor(x))
    logp, entropy = model.log_prob_entropy(out, torch.as_tensor(actions))
    ratio = (logp - torch.as_tensor(old_logp)).exp()
    a = torch.as_tensor(adv)
    loss = (-torch.min(ratio * a, ratio.clamp(1 - clip, 1 + clip) * a).mean()
            + vf_coef * (values - torch.as_tensor(returns)).pow(2).mean() - ent_coef * entropy.mean())
    loss.backward()
    clip_grads(list(model.parameters()), max_norm)
    expected = [p.grad.clone() for p in model.parameters()]
    assert 0 < float(((ratio - 1).abs() > clip).float().mean()) < 1  # both branches of the min are exercised
    grad = NumpyPPOGrad(model)
    grad.attach()
    got = grad(x, actions, old_logp, adv, returns, clip, vf_coef, ent_coef, max_norm)
    assert np.isclose(got["vf"], float((values - torch.as_tensor(returns)).pow(2).mean().detach()), rtol=1e-5)
    for p, e in zip(model.parameters(), expected):
        assert p.grad.shape == e.shape and torch.allclose(p.grad, e, atol=1e-6, rtol=1e-4)


def test_ppo_update_runs_through_numpy_only_for_discrete_mlps():
    from .toy_envs import RecallEnv

    assert PPO(seed=0, hidden=(8,), n_envs=2, n_steps=8, batch_size=16).learn(IdentityEnv(), 16)._numpy_grad()
    assert PPO(seed=0, hidden=(8,), n_envs=2, n_steps=8, batch_size=16).learn(RecallEnv(), 16)._numpy_grad() is None
    assert PPO(seed=0, hidden=(8,), n_envs=2, n_steps=8,
               batch_size=16).learn(ContinuousIdentityEnv(), 16)._numpy_grad() is None
