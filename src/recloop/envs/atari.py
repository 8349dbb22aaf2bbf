"""Breakout testbeds: MinAtar (CPU-sized, Young & Tian 2019) and ALE Atari with the usual wrappers.

``MinAtarEnv`` wraps the ``minatar`` package as a Gymnasium env with
channel-first ``uint8`` observations ``(C, 10, 10)``, the minimal action set
and MinAtar's default sticky actions (p=0.1). ``make_ale_breakout`` builds
``ALE/Breakout-v5`` with the preprocessing of Mnih et al. (2015): no-op starts,
frame skip 4 with max-pooling, grey 84x84, episodic life, 4-frame stack.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

MINATAR_GAMES = ("asterix", "breakout", "freeway", "seaquest", "space_invaders")


def _require(module: str, extra: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        package = {"cv2": "opencv-python-headless"}.get(module, module.replace("_", "-"))
        raise ImportError(f"this environment needs the `{package}` package: "
                          f"pip install {package}  (or pip install 'recloop[{extra}]')") from err


class MinAtarEnv(gym.Env):
    """A MinAtar game as a Gymnasium env (observations ``(C, 10, 10)`` of 0/1 ``uint8``)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, game: str = "breakout", *, sticky_action_prob: float = 0.1,
                 difficulty_ramping: bool = True, minimal_actions: bool = True, max_episode_steps: int | None = None,
                 render_mode: str | None = None):
        if game not in MINATAR_GAMES:
            raise ValueError(f"unknown MinAtar game {game!r}; use one of {MINATAR_GAMES}")
        minatar = _require("minatar", "deep")
        self.game_name = game
        self._game = minatar.Environment(game, sticky_action_prob=sticky_action_prob,
                                         difficulty_ramping=difficulty_ramping)
        self._actions = list(self._game.minimal_action_set()) if minimal_actions else list(range(6))
        h, w, c = self._game.state_shape()
        self.observation_space = spaces.Box(0, 1, shape=(c, h, w), dtype=np.uint8)
        self.action_space = spaces.Discrete(len(self._actions))
        self.max_episode_steps = max_episode_steps
        self.render_mode = render_mode
        self._t = 0

    def _obs(self) -> np.ndarray:
        return np.ascontiguousarray(self._game.state().transpose(2, 0, 1), dtype=np.uint8)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        # MinAtar draws from its own RandomState; derive it from Gymnasium's seeded generator.
        self._game.seed(int(self.np_random.integers(2**31 - 1)))
        self._game.reset()
        self._t = 0
        return self._obs(), {}

    def step(self, action):
        # a plain range check: Discrete.contains costs more than a MinAtar step
        a = int(action) if isinstance(action, (int, np.integer)) or np.ndim(action) == 0 else -1
        if a != action or not 0 <= a < len(self._actions):
            raise ValueError(f"invalid action {action!r} for {self.action_space}")
        reward, done = self._game.act(self._actions[a])
        self._t += 1
        truncated = bool(self.max_episode_steps is not None and self._t >= self.max_episode_steps and not done)
        return self._obs(), float(reward), bool(done), truncated, {}

    def render(self):
        state = self._game.state()
        palette = np.array([[0, 0, 0], [230, 230, 80], [80, 200, 230], [120, 120, 200], [230, 90, 90],
                            [90, 230, 90], [200, 120, 230], [240, 160, 60], [160, 160, 160], [255, 255, 255],
                            [60, 120, 60]], dtype=np.uint8)
        layer = np.max(state * np.arange(1, state.shape[2] + 1), axis=2) % len(palette)
        return np.kron(palette[layer], np.ones((20, 20, 1), dtype=np.uint8))


def make_minatar(game: str = "breakout", **kwargs: Any) -> MinAtarEnv:
    return MinAtarEnv(game, **kwargs)


def make_ale_breakout(*, frame_skip: int = 4, screen_size: int = 84, stack: int = 4, noop_max: int = 30,
                      terminal_on_life_loss: bool = True, max_episode_steps: int = 108_000) -> gym.Env:
    """``ALE/Breakout-v5`` with the DQN preprocessing (needs ``ale-py``; the ROM ships with it).

    ``terminal_on_life_loss`` ends training episodes at each lost life ("episodic
    life"); evaluate with ``False`` to score full games.
    """
    ale_py = _require("ale_py", "atari")
    _require("cv2", "atari")  # AtariPreprocessing resizes with OpenCV
    gym.register_envs(ale_py)
    # frameskip=1 in the raw env: AtariPreprocessing skips frames and max-pools the last two itself.
    env = gym.make("ALE/Breakout-v5", frameskip=1, repeat_action_probability=0.25,
                   max_episode_steps=max_episode_steps)
    env = gym.wrappers.AtariPreprocessing(env, noop_max=noop_max, frame_skip=frame_skip, screen_size=screen_size,
                                          terminal_on_life_loss=terminal_on_life_loss, grayscale_obs=True)
    return gym.wrappers.FrameStackObservation(env, stack)
