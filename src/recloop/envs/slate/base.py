"""The vectorised slate simulator and its single-user Gymnasium face.

:class:`SlateVectorEnv` steps a whole batch of users with numpy (one call, no
per-user Python loop) and is a ``gymnasium.vector.VectorEnv``. :class:`SlateEnv`
is the ordinary single-user ``gymnasium.Env``; it drives a batch of one, so both
share every line of simulation code. User ``i`` of a batch reset with seed ``s``
follows exactly the trajectory of a single env reset with seed ``s + i`` under
the same slates (see :mod:`recloop.envs.slate.rng` for how).

A concrete simulator composes a user model, a document sampler, a choice model
and a response, and fills in four hooks: ``_reset_users``, ``_step_users``,
``_observe`` and ``_single_observation_space``.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from recloop.envs.slate import rng


class SlateSpace(spaces.MultiDiscrete):
    """``slate_size`` distinct indices into ``num_candidates`` (ordered: position matters).

    Unlike a plain ``MultiDiscrete`` (RecSim's action space), samples never repeat
    an item and ``contains`` rejects slates that do.
    """

    def __init__(self, num_candidates: int, slate_size: int, seed: int | np.random.Generator | None = None):
        super().__init__(np.full(slate_size, num_candidates, dtype=np.int64), seed=seed)
        self.num_candidates = num_candidates
        self.slate_size = slate_size

    def sample(self, mask: Any = None, probability: Any = None) -> np.ndarray:
        return self.np_random.permutation(self.num_candidates)[: self.slate_size].astype(np.int64)

    def contains(self, x: Any) -> bool:
        return bool(super().contains(x)) and len(np.unique(np.asarray(x))) == self.slate_size

    def __repr__(self) -> str:
        return f"SlateSpace(num_candidates={self.num_candidates}, slate_size={self.slate_size})"


def check_slates(actions: Any, batch: int, num_candidates: int, slate_size: int) -> np.ndarray:
    """Validate a batch of slates; return them as an ``int64 [batch, slate_size]`` array."""
    a = np.asarray(actions)
    if a.dtype.kind not in "iu":
        if a.dtype.kind != "f" or not np.array_equal(a, np.round(a)):
            raise ValueError(f"slates must hold integer item indices, got dtype {a.dtype}")
    a = a.astype(np.int64, copy=False)
    if a.shape != (batch, slate_size):
        raise ValueError(f"expected slates of shape ({batch}, {slate_size}) "
                         f"({batch} users x slate_size {slate_size}), got {a.shape}")
    if a.min(initial=0) < 0 or a.max(initial=0) >= num_candidates:
        bad = np.argwhere((a < 0) | (a >= num_candidates))[0]
        raise ValueError(f"slate index {a[tuple(bad)]} (user {bad[0]}, position {bad[1]}) is out of range: "
                         f"indices must lie in 0..{num_candidates - 1}")
    if slate_size == 2:
        dup = a[:, 0] == a[:, 1]
    else:
        s = np.sort(a, axis=1)
        dup = (s[:, 1:] == s[:, :-1]).any(axis=1)
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise ValueError(f"slate {a[i].tolist()} (user {i}) shows an item twice: slate items must be distinct")
    return a


def check_sizes(num_candidates: int, slate_size: int) -> tuple[int, int]:
    for name, v in (("num_candidates", num_candidates), ("slate_size", slate_size)):
        if isinstance(v, bool) or int(v) != v or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if slate_size > num_candidates:
        raise ValueError(f"slate_size ({slate_size}) cannot exceed num_candidates ({num_candidates})")
    return int(num_candidates), int(slate_size)


class SlateVectorEnv(VectorEnv):
    """A batch of ``num_envs`` independent users, each with its own candidate documents.

    Autoreset is Gymnasium's ``SAME_STEP`` mode: a user whose session ends is
    replaced by a fresh one in the same ``step``; the last observation of the old
    one is in ``infos["final_obs"]`` (rows flagged by ``infos["_final_obs"]``).
    ``autoreset=False`` leaves finished users as they are (for the single-user env).
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}
    #: random words each user consumes per reset and per step (fixed, so streams stay aligned)
    reset_words: int
    step_words: int

    def __init__(self, num_envs: int = 1, *, num_candidates: int, slate_size: int,
                 resample_documents: bool = True, autoreset: bool = True):
        if isinstance(num_envs, bool) or int(num_envs) != num_envs or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        self.num_envs = int(num_envs)
        self.num_candidates, self.slate_size = check_sizes(num_candidates, slate_size)
        self.resample_documents = bool(resample_documents)
        self.autoreset = bool(autoreset)
        self.streams = rng.UserStreams(self.num_envs)
        self._seeded = False
        self.single_action_space = SlateSpace(self.num_candidates, self.slate_size)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.single_observation_space = self._single_observation_space()
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self._zeros = np.zeros(self.num_envs, dtype=bool)

    # ------------------------------------------------------------ hooks
    @abstractmethod
    def _single_observation_space(self) -> spaces.Dict: ...

    @abstractmethod
    def _reset_users(self, idx: np.ndarray | slice, words: np.ndarray) -> None:
        """Sample fresh users (and their first candidates) into rows ``idx``."""

    @abstractmethod
    def _step_users(self, slates: np.ndarray, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Show ``slates`` to every user; update state, response and documents; return (reward, terminated)."""

    @abstractmethod
    def _observe(self, idx: np.ndarray | slice = slice(None)) -> dict:
        """The batched observation of the current state (of rows ``idx``)."""

    @abstractmethod
    def choice_probabilities(self, slates: np.ndarray) -> np.ndarray:
        """True ``[num_envs, slate_size + 1]`` choice probabilities of ``slates`` now (last: no click)."""

    # ------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None) -> tuple[dict, dict]:
        if seed is not None:
            seeds = np.asarray(seed, dtype=np.int64)
            if seeds.ndim == 0:
                seeds = int(seed) + np.arange(self.num_envs, dtype=np.int64)
            if seeds.shape != (self.num_envs,):
                raise ValueError(f"seed must be an int or {self.num_envs} ints, got shape {seeds.shape}")
            self.streams.seed(seeds)
            self._seeded = True
        elif not self._seeded:
            self.streams.seed(rng.fresh_seed() + np.arange(self.num_envs, dtype=np.int64))
            self._seeded = True
        self._reset_core(slice(None))
        return self._observe(), {}

    def step(self, actions: Any) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray, dict]:
        if not self._seeded:
            raise RuntimeError("call reset() before step()")
        slates = check_slates(actions, self.num_envs, self.num_candidates, self.slate_size)
        reward, terminated = self._step_core(slates)
        infos: dict = {}
        obs = self._observe()
        if self.autoreset and terminated.any():
            done = np.flatnonzero(terminated)
            infos["final_obs"] = obs
            infos["_final_obs"] = terminated.copy()
            self._reset_core(done)
            # copy and patch the fresh users' rows: cheaper than observing everyone twice
            obs = _patch(obs, self._observe(done), done)
        return obs, reward, terminated, self._zeros.copy(), infos

    # ------------------------------------------------------------ shared by both faces
    def _reset_core(self, idx: np.ndarray | slice) -> None:
        self._reset_users(idx, self.streams.words(self.reset_words, idx))

    def _step_core(self, slates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._step_users(slates, self.streams.words(self.step_words))

    def get_params(self) -> dict:
        return dict(self._params)


class SlateEnv(gym.Env):
    """One user at a time; the Gymnasium single-agent face of a :class:`SlateVectorEnv`."""

    metadata = {"render_modes": []}
    vector_class: type[SlateVectorEnv]

    def __init__(self, **params: Any):
        self._core = self.vector_class(1, autoreset=False, **params)
        self.observation_space = self._core.single_observation_space
        self.action_space = self._core.single_action_space
        self._ready = False

    @property
    def core(self) -> SlateVectorEnv:
        """The batch-of-one simulator underneath (its state is this user's state)."""
        return self._core

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        if seed is not None:
            self._core.streams.seed(np.array([int(seed)]))
        elif not self._ready:
            self._core.streams.seed(np.array([rng.fresh_seed()]))
        self._ready = True
        self._core._reset_core(slice(None))
        return _first(self._core._observe()), {}

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        if not self._ready:
            raise RuntimeError("call reset() before step()")
        slate = check_slates(np.asarray(action)[None], 1, self._core.num_candidates, self._core.slate_size)
        reward, terminated = self._core._step_core(slate)
        return _first(self._core._observe()), float(reward[0]), bool(terminated[0]), False, {}

    def choice_probabilities(self, slate: Any) -> np.ndarray:
        return self._core.choice_probabilities(np.asarray(slate)[None])[0]


def _patch(obs: Any, rows: Any, idx: np.ndarray) -> Any:
    if isinstance(obs, dict):
        return {k: _patch(v, rows[k], idx) for k, v in obs.items()}
    out = obs.copy()
    out[idx] = rows
    return out


def _first(obs: Any) -> Any:
    if isinstance(obs, dict):
        return {k: _first(v) for k, v in obs.items()}
    return obs[0]
