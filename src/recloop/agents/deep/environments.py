"""Turning an env name into environments, and stepping ``n`` copies in lock-step.

``make_env`` knows recloop's names (``minatar-breakout``, ``ale-breakout``),
Gymnasium ids (``CartPole-v1``) and envs registered in recloop's registry.
``EnvRunner`` steps a list of envs with *same-step* autoreset: when a copy's
episode ends, its final observation is kept for bootstrapping and the copy is
reset at once, so the next observation is always the start of a live episode.
"""

from __future__ import annotations

import copy
from typing import Callable

import gymnasium as gym
import numpy as np

EnvSpec = str | gym.Env | Callable[[], gym.Env]


def make_env(spec: EnvSpec) -> gym.Env:
    if isinstance(spec, gym.Env):
        return spec
    if callable(spec):
        env = spec()
        if not isinstance(env, gym.Env):
            raise TypeError(f"env factory returned {type(env).__name__}, not a gymnasium.Env")
        return env
    if not isinstance(spec, str):
        raise TypeError(f"env must be a Gymnasium id, a gymnasium.Env or a factory; got {type(spec).__name__}")
    key = spec.lower().replace("_", "-")
    if key.startswith("minatar-") or key.startswith("minatar/"):
        from recloop.envs.atari import make_minatar

        game = key.split("-", 1)[1] if key.startswith("minatar-") else key.split("/", 1)[1].split("-v")[0]
        return make_minatar(game.replace("-", "_").replace("spaceinvaders", "space_invaders"))
    if key in ("ale-breakout", "breakout", "ale/breakout-v5"):
        from recloop.envs.atari import make_ale_breakout

        return make_ale_breakout()
    try:
        return gym.make(spec)
    except gym.error.Error as gym_err:
        from recloop.core.registry import lookup

        try:
            return lookup("env", spec)()
        except (KeyError, ImportError):
            raise ValueError(f"unknown environment {spec!r}: not a Gymnasium id ({gym_err}), "
                             "nor minatar-<game> / ale-breakout, nor a recloop env") from None


def make_envs(spec: EnvSpec, n: int) -> list[gym.Env]:
    """``n`` independent copies (an Env instance is deep-copied)."""
    first = make_env(spec)
    if n == 1:
        return [first]
    if isinstance(spec, gym.Env):
        return [first] + [copy.deepcopy(first) for _ in range(n - 1)]
    return [first] + [make_env(spec) for _ in range(n - 1)]


def env_name(spec: EnvSpec) -> str:
    if isinstance(spec, str):
        return spec
    if isinstance(spec, gym.Env):
        return spec.spec.id if spec.spec is not None else type(spec.unwrapped).__name__
    return getattr(spec, "__name__", "env")


class EnvRunner:
    """``n`` envs stepped together; tracks episode returns and lengths."""

    def __init__(self, envs: list[gym.Env], seed: int | None):
        self.envs = envs
        self.n = len(envs)
        seeds = [None] * self.n if seed is None else [int(seed) + i for i in range(self.n)]
        self.obs = np.stack([np.asarray(e.reset(seed=s)[0]) for e, s in zip(envs, seeds)])
        for i, e in enumerate(envs):
            e.action_space.seed(None if seed is None else int(seed) + 10_000 + i)
        self.ep_return = np.zeros(self.n)
        self.ep_len = np.zeros(self.n, dtype=np.int64)

    def step(self, actions: np.ndarray):
        """Returns ``next_obs, rewards, terminated, truncated, final_obs, finished`` where
        ``next_obs`` starts new episodes where one ended, ``final_obs`` is the true
        successor (for bootstrapping) and ``finished`` lists ``(return, length)``."""
        n = self.n
        next_obs = np.empty_like(self.obs)
        final_obs = next_obs
        rewards = np.empty(n, dtype=np.float32)
        term = np.empty(n, dtype=bool)
        trunc = np.empty(n, dtype=bool)
        finished: list[tuple[float, int]] = []
        for i, env in enumerate(self.envs):
            a = actions[i]
            o, r, te, tr, _ = env.step(a.item() if a.ndim == 0 else a)
            rewards[i], term[i], trunc[i] = r, te, tr
            self.ep_return[i] += r
            self.ep_len[i] += 1
            if te or tr:
                if final_obs is next_obs:
                    final_obs = next_obs.copy()
                final_obs[i] = o
                finished.append((float(self.ep_return[i]), int(self.ep_len[i])))
                self.ep_return[i] = 0.0
                self.ep_len[i] = 0
                o, _ = env.reset()
            next_obs[i] = o
        if final_obs is not next_obs:
            # rows of live copies were written to next_obs after the copy was taken
            live = ~(term | trunc)
            final_obs[live] = next_obs[live]
        self.obs = next_obs
        return next_obs, rewards, term, trunc, final_obs, finished
