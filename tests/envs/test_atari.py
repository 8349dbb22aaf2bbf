"""MinAtar and ALE Breakout wrappers: Gymnasium-conformant, seeded, and usable by DQN."""

import importlib.util

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

pytest.importorskip("minatar", reason="minatar is not installed: pip install minatar")

from recloop.envs.atari import MinAtarEnv  # noqa: E402


def test_minatar_breakout_passes_env_checker():
    env = MinAtarEnv("breakout")
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 10, 10) and obs.dtype == np.uint8
    assert env.action_space.n == 3  # minimal action set: no-op, left, right


def test_minatar_is_seeded():
    def rollout(seed):
        env = MinAtarEnv("breakout")
        obs, _ = env.reset(seed=seed)
        out = [obs]
        for t in range(50):
            obs, r, term, trunc, _ = env.step(t % 3)
            out.append(obs)
            if term:
                break
        return np.stack(out)

    assert np.array_equal(rollout(3), rollout(3))


def test_minatar_rejects_unknown_game_and_action():
    with pytest.raises(ValueError, match="unknown MinAtar game"):
        MinAtarEnv("pong")
    env = MinAtarEnv("breakout")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="invalid action"):
        env.step(7)


def test_dqn_runs_on_minatar_with_its_conv_net():
    from recloop.agents.deep import DQN
    from recloop.agents.deep.networks import MinAtarCNN

    agent = DQN(seed=0, learning_starts=32, batch_size=8).learn("minatar-breakout", 64)
    assert isinstance(agent.q_.encoder, MinAtarCNN)
    assert agent.act(np.zeros((4, 10, 10), np.uint8), explore=False) in (0, 1, 2)


@pytest.mark.skipif(importlib.util.find_spec("ale_py") is None,
                    reason="ale-py is not installed (optional extra recloop[atari]): pip install ale-py")
def test_ale_breakout_smoke():
    from recloop.agents.deep import DQN
    from recloop.agents.deep.networks import NatureCNN
    from recloop.envs.atari import make_ale_breakout

    env = make_ale_breakout()
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    agent = DQN(seed=0, learning_starts=16, batch_size=4, buffer_size=64).learn(env, 24)
    assert isinstance(agent.q_.encoder, NatureCNN)
    assert agent.spaces_["obs_scale"] == pytest.approx(1 / 255)
