"""save -> load -> identical actions; clear errors for wrong spaces, shapes and missing packages."""

import builtins

import numpy as np
import pytest

from recloop.agents.deep import A2C, CEM, DDPG, DQN, PPO, REINFORCE, SAC, TD3, DeepAgent, SpaceError
from recloop.core.registry import make, names

from .toy_envs import ContinuousIdentityEnv, IdentityEnv

DISCRETE = [lambda: DQN(seed=0, hidden=(16,), learning_starts=20), lambda: PPO(seed=0, hidden=(16,), n_envs=2,
            n_steps=16, batch_size=32, n_epochs=1), lambda: A2C(seed=0, hidden=(16,), n_envs=2),
            lambda: REINFORCE(seed=0, hidden=(16,), batch_episodes=1), lambda: CEM(seed=0, population=4)]
CONTINUOUS = [lambda: DDPG(seed=0, hidden=(16,), learning_starts=20, batch_size=8),
              lambda: TD3(seed=0, hidden=(16,), learning_starts=20, batch_size=8),
              lambda: SAC(seed=0, hidden=(16,), learning_starts=20, batch_size=8)]


@pytest.mark.parametrize("make_agent", DISCRETE, ids=["dqn", "ppo", "a2c", "reinforce", "cem"])
def test_save_load_identical_discrete(make_agent, tmp_path):
    agent = make_agent().learn(IdentityEnv(n=3), 100)
    path = agent.save(tmp_path / "agent.npz")
    loaded = DeepAgent.load(path)
    assert type(loaded) is type(agent) and loaded.get_params() == agent.get_params()
    obs = np.eye(3, dtype=np.float32)
    assert (loaded.act_batch(obs, explore=False) == agent.act_batch(obs, explore=False)).all()
    for o in obs:
        assert loaded.probabilities(o) == pytest.approx(agent.probabilities(o))
        assert agent.probabilities(o).sum() == pytest.approx(1.0)


@pytest.mark.parametrize("make_agent", CONTINUOUS, ids=["ddpg", "td3", "sac"])
def test_save_load_identical_continuous(make_agent, tmp_path):
    agent = make_agent().learn(ContinuousIdentityEnv(), 60)
    loaded = type(agent).load(agent.save(tmp_path / "agent"))
    obs = np.linspace(-1, 1, 7, dtype=np.float32)[:, None]
    assert np.array_equal(loaded.act_batch(obs, explore=False), agent.act_batch(obs, explore=False))
    a = agent.act_batch(obs, explore=True)
    assert a.shape == (7, 1) and (np.abs(a) <= 1).all()


def test_load_checks_class(tmp_path):
    path = DQN(seed=0, hidden=(8,), learning_starts=10).learn(IdentityEnv(), 20).save(tmp_path / "q.npz")
    with pytest.raises(ValueError, match="not a PPO"):
        PPO.load(path)


def test_registry_knows_the_agents():
    assert {"dqn", "ppo", "a2c", "reinforce", "ddpg", "td3", "sac", "cem"} <= set(names("agent"))
    assert isinstance(make("agent", "ppo", n_envs=2, n_steps=8, batch_size=16), PPO)


def test_discrete_agent_on_continuous_env_says_what_to_use():
    with pytest.raises(SpaceError, match="Discrete action space.*SAC, TD3 or DDPG"):
        DQN().learn(ContinuousIdentityEnv(), 10)


@pytest.mark.parametrize("cls", [DDPG, TD3, SAC])
def test_continuous_agent_on_discrete_env_says_what_to_use(cls):
    with pytest.raises(SpaceError, match="continuous.*DQN, PPO, A2C or REINFORCE"):
        cls().learn(IdentityEnv(), 10)


def test_wrong_observation_shape():
    agent = DQN(seed=0, hidden=(8,), learning_starts=10).learn(IdentityEnv(n=2), 20)
    with pytest.raises(ValueError, match=r"observation has shape \(3,\); DQN expects \(2,\)"):
        agent.act(np.zeros(3))
    with pytest.raises(ValueError, match=r"each observation in the batch has shape \(3,\)"):
        agent.act_batch(np.zeros((4, 3)))


def test_env_with_other_spaces_is_refused_after_training():
    agent = DQN(seed=0, hidden=(8,), learning_starts=10).learn(IdentityEnv(n=2), 20)
    with pytest.raises(SpaceError, match="was built for"):
        agent.learn(IdentityEnv(n=3), 10)


def test_untrained_agent_says_how_to_start():
    with pytest.raises(RuntimeError, match="learn"):
        PPO().act(np.zeros(4))


def test_continuous_agents_have_no_probabilities():
    agent = SAC(seed=0, hidden=(8,), learning_starts=10, batch_size=4).learn(ContinuousIdentityEnv(), 20)
    with pytest.raises(NotImplementedError, match="continuous"):
        agent.probabilities(np.zeros(1))


def test_bad_hyper_parameters():
    with pytest.raises(ValueError, match="tau"):
        DQN(tau=0.0)
    with pytest.raises(ValueError, match="batch_size"):
        PPO(n_envs=2, n_steps=4, batch_size=64)
    with pytest.raises(ValueError, match="total_steps"):
        DQN().learn(IdentityEnv(), 0)


def test_unknown_env_name():
    with pytest.raises(ValueError, match="unknown environment 'NoSuchEnv-v9'"):
        DQN().learn("NoSuchEnv-v9", 10)


@pytest.mark.parametrize("module, env_name, hint", [("minatar", "minatar-breakout", "pip install minatar"),
                                                    ("ale_py", "ale-breakout", "pip install ale-py")])
def test_missing_optional_package_says_what_to_install(monkeypatch, module, env_name, hint):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == module or name.startswith(module + "."):
            raise ImportError(f"No module named {module!r}", name=module)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    import importlib
    monkeypatch.setattr(importlib, "import_module", lambda n, *a: fake_import(n))
    with pytest.raises(ImportError, match=hint):
        DQN().learn(env_name, 10)


def test_recommend_gives_propensities():
    agent = PPO(seed=0, hidden=(8,), n_envs=2, n_steps=8, batch_size=16, n_epochs=1).learn(IdentityEnv(n=3), 16)
    rec = agent.recommend(np.eye(3, dtype=np.float32)[0], candidates=[0, 2], k=2)
    assert set(rec.items) == {0, 2}
    assert rec.propensities.sum() == pytest.approx(1.0)


RESUMABLE = {"dqn": (lambda: DQN(seed=0, hidden=(16,), learning_starts=20, batch_size=8), IdentityEnv),
             "ppo": (lambda: PPO(seed=0, hidden=(16,), n_envs=2, n_steps=16, batch_size=16, n_epochs=2), IdentityEnv),
             "a2c": (lambda: A2C(seed=0, hidden=(16,), n_envs=2), IdentityEnv),
             "td3": (lambda: TD3(seed=0, hidden=(16,), learning_starts=20, batch_size=8), ContinuousIdentityEnv),
             "sac": (lambda: SAC(seed=0, hidden=(16,), learning_starts=20, batch_size=8), ContinuousIdentityEnv)}


@pytest.mark.parametrize("name", sorted(RESUMABLE))
def test_training_resumes_from_a_checkpoint_as_if_never_stopped(name, tmp_path):
    make_agent, make_env = RESUMABLE[name]
    agent = make_agent().learn(make_env(), 64, seed=3)
    resumed = DeepAgent.load(agent.save(tmp_path / "agent.npz"))
    for before, after in zip(agent._optimizers().values(), resumed._optimizers().values()):
        saved, loaded = before.state_dict(), after.state_dict()
        assert saved["state"].keys() == loaded["state"].keys() and len(saved["state"]) > 0
        for i, s in saved["state"].items():
            for k, v in s.items():
                assert np.array_equal(np.asarray(v), np.asarray(loaded["state"][i][k])), (i, k)
    agent.learn(make_env(), 64, seed=4)
    resumed.learn(make_env(), 64, seed=4)
    for (k, m), (_, r) in zip(agent._modules().items(), resumed._modules().items()):
        for (pn, p), (_, q) in zip(m.state_dict().items(), r.state_dict().items()):
            assert np.array_equal(p.numpy(), q.numpy()), f"{k}.{pn} differs after resuming"
