"""The maze: map parsing and validation, the exact model, Gymnasium compliance."""

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from recloop.core.registry import _REGISTRY
from recloop.envs.gridworld import Maze, map_names


@pytest.mark.parametrize("name", map_names())
def test_shipped_maps_pass_check_env(name):
    env = Maze(name)
    check_env(env, skip_render_check=True)
    np.testing.assert_allclose(env.P.sum(axis=2), 1.0)


def test_shipped_maps_present():
    assert {"corridor", "classic", "cliff", "rooms", "labyrinth"} <= set(map_names())
    assert _REGISTRY["env"]["maze"] is Maze


def test_map_options_and_overrides():
    env = Maze("cliff")
    assert (env.step_reward, env.trap_reward, env.trap_terminates) == (-1.0, -100.0, False)
    env = Maze("cliff", trap_terminates=True, trap_reward=-5)
    assert env.trap_terminates and env.trap_reward == -5.0
    assert Maze("classic").slip == pytest.approx(0.2)


def test_slip_model_matches_simulation():
    env = Maze("classic")
    s = env.state_of(2, 1)  # bottom row, second column
    env.reset(seed=0)
    counts = np.zeros(env.n_states)
    for _ in range(4000):
        env._s = s
        counts[env.step(0)[0]] += 1  # "up" is a wall: stays with prob 0.8
    np.testing.assert_allclose(counts / 4000, env.P[s, 0], atol=0.03)
    assert env.P[s, 0, s] == pytest.approx(0.8)


def test_trap_reset_and_terminal_trap():
    env = Maze("cliff")
    s0, _ = env.reset(seed=0)
    s, r, terminated, _, _ = env.step(1)  # right from the start: into the cliff
    assert (s, r, terminated) == (s0, -100.0, False)
    env = Maze("S.T.\n...G", trap_reward=-2.0)
    env.reset(seed=0)
    env.step(1)
    assert env.step(1)[1:3] == (-2.0, True)


def test_truncation_and_render():
    env = Maze("corridor", max_steps=3, render_mode="ansi")
    env.reset(seed=0)
    out = [env.step(3) for _ in range(3)]
    assert [o[3] for o in out] == [False, False, True] and not out[-1][2]
    assert env.render().startswith("@")


def test_value_and_arrow_grids():
    env = Maze("classic")
    res = env.solve(0.9)
    grid = env.value_grid(res.values)
    assert grid.shape == (3, 4) and np.isnan(grid[1, 1])
    arrows = env.arrow_grid(res.policy)
    assert arrows[0][3] == "G" and arrows[1][1] == "#" and arrows[0][2] == "→"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("....G", "exactly one start"),
        ("S..S.G", "exactly one start"),
        ("S....", "no goal"),
        ("S#G", "no goal 'G' is reachable"),
        ("STG", "no goal 'G' is reachable"),
        ("S..\n..G.", "ragged"),
        ("S.x.G", "unknown character 'x'"),
        ("; only a comment", "empty"),
        ("; slip = lots\nS.G", "bad value 'lots' for slip"),
    ],
)
def test_malformed_maps_are_named(text, message):
    with pytest.raises(ValueError, match=message):
        Maze(text)


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(KeyError, match="unknown maze map 'nowhere'"):
        Maze("nowhere")
    with pytest.raises(FileNotFoundError):
        Maze(str(tmp_path / "none.txt"))
    with pytest.raises(ValueError, match="slip"):
        Maze("corridor", slip=1.0)
    with pytest.raises(ValueError, match="action must be"):
        env = Maze("corridor")
        env.reset(seed=0)
        env.step(7)
    path = tmp_path / "mine.txt"
    path.write_text("; step_reward = -0.5\nS.G\n")
    assert Maze(path).step_reward == -0.5
