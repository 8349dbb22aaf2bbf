"""Every recloop environment is reachable through gym.make("recloop/...") and passes check_env;
the slate wrapper makes the simulators usable by Stable-Baselines3."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import recloop  # noqa: F401  (registers the ids)
from recloop.core.registry import names
from recloop.envs.registration import ENVS, env_id
from recloop.envs.wrappers import FlatSlate


def _grouplens(folder):
    """A small GroupLens-format data set: 30 users x 16 rated films each, 20 films."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    rows = [(u, i, int(rng.integers(1, 6)), 1000 * u + t)
            for u in range(1, 31) for t, i in enumerate(rng.permutation(np.arange(1, 21))[:16])]
    (folder / "u.data").write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in rows))
    genres = "|".join("1" if g in (1, 5) else "0" for g in range(19))
    (folder / "u.item").write_text("".join(f"{i}|Film {i} (199{i % 10})|01-Jan-199{i % 10}||http://x|{genres}\n"
                                           for i in range(1, 21)))
    return str(folder)


def test_every_registered_env_has_a_gymnasium_id():
    from recloop.core.registry import target

    assert set(ENVS) == {n for n in names("env") if target("env", n).startswith("recloop.")}
    assert all(env_id(n) in gym.registry for n in ENVS)


@pytest.mark.parametrize("name", sorted(ENVS))
def test_gym_make_and_check_env(name, tmp_path):
    kwargs = {"path": _grouplens(tmp_path / "ml")} if name.startswith("movielens") else {}
    env = gym.make(env_id(name), disable_env_checker=True, **kwargs)
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)


def test_unknown_id_in_the_namespace_says_what_exists():
    with pytest.raises(gym.error.Error, match="recloop"):
        gym.make("recloop/mazes-v0")


def test_slate_vector_entry_point_is_the_native_batch():
    from recloop.envs.slate import InterestEvolutionVectorEnv

    venv = gym.make_vec(env_id("interest-evolution"), num_envs=4, vectorization_mode="vector_entry_point")
    assert isinstance(venv, InterestEvolutionVectorEnv) and venv.num_envs == 4


@pytest.mark.filterwarnings("ignore:.*is different from the unwrapped version")  # checking the wrapper is the point
@pytest.mark.parametrize("name", ["interest-evolution", "long-term-satisfaction"])
def test_flat_slate_passes_checks_and_always_acts_validly(name):
    env = FlatSlate(gym.make(env_id(name)))
    check_env(env, skip_render_check=True)
    assert isinstance(env.observation_space, gym.spaces.Box)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(50):  # repeats included: the wrapper repairs them, the env never sees one
        a = rng.integers(0, env.num_candidates, env.slate_size)
        slate = env.slate(a)
        assert len(set(slate.tolist())) == env.slate_size
        if len(set(a.tolist())) == env.slate_size:
            assert np.array_equal(slate, a)
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()
    with pytest.raises(TypeError, match="slate environment"):
        FlatSlate(gym.make(env_id("maze")))


def test_stable_baselines3_ppo_trains_on_a_slate_env():
    sb3 = pytest.importorskip("stable_baselines3", reason="stable-baselines3 (dev extra) is not installed")
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = FlatSlate(gym.make(env_id("interest-evolution")))
    sb3_check_env(env, warn=True)
    model = sb3.PPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=128)
    obs, _ = env.reset(seed=1)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(action)
    env.step(action)


@pytest.mark.parametrize("order", ["import recloop; import gymnasium as gym",
                                   "import gymnasium as gym; import recloop"])
def test_ids_exist_in_either_import_order_and_the_cli_stays_light(order):
    import subprocess
    import sys

    code = (f"{order}; assert gym.make('recloop/maze-v0').action_space.n == 4; "
            "import sys; import recloop.apps.cli; "
            "print(sorted(m for m in ('torch', 'ray', 'scipy.stats') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    light = subprocess.run([sys.executable, "-c", "import sys, recloop.apps.cli; print('gymnasium' in sys.modules)"],
                           capture_output=True, text=True, timeout=120)
    assert light.stdout.strip() == "False", light.stderr  # the CLI's start does not pay for gymnasium
