"""Wrappers that let general-purpose RL libraries use recloop's slate simulators.

The slate environments observe a nested ``Dict`` (``user``, ``doc``, ``response`` with its own
``Dict``) and act with a :class:`~recloop.envs.slate.base.SlateSpace` (distinct items). Libraries
such as Stable-Baselines3 take neither a nested ``Dict`` nor a constraint between action
components, so :class:`FlatSlate`:

* flattens the observation into one ``Box`` (``gymnasium.spaces.flatten``: the user vector,
  then every candidate's features, then last step's response with discrete parts one-hot);
* acts with a plain ``MultiDiscrete([num_candidates] * slate_size)``; a repeated item is
  replaced by the lowest-numbered candidate not yet in the slate, so every action the
  learner can emit is a valid slate (and a valid slate passes through unchanged).

Example (Stable-Baselines3 is not a dependency of recloop; the dev extra has it for the tests):

    >>> import gymnasium as gym
    >>> import recloop
    >>> env = FlatSlate(gym.make("recloop/interest-evolution-v0"))
    >>> env.observation_space.shape, env.action_space
    ((266,), MultiDiscrete([10 10]))
    >>> env.slate([4, 4])
    array([4, 0])

then ``stable_baselines3.PPO("MlpPolicy", env).learn(10_000)``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.wrappers import FlattenObservation


class FlatSlate(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """A single-user slate env with a flat ``Box`` observation and a ``MultiDiscrete`` action."""

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        act = env.action_space
        if not hasattr(act, "slate_size") or not hasattr(act, "num_candidates"):
            raise TypeError(f"FlatSlate wraps a slate environment (interest-evolution, long-term-satisfaction), "
                            f"not {type(env.unwrapped).__name__} (action space {act})")
        super().__init__(FlattenObservation(env))
        self.num_candidates, self.slate_size = int(act.num_candidates), int(act.slate_size)
        self.action_space = spaces.MultiDiscrete(np.full(self.slate_size, self.num_candidates, dtype=np.int64))

    def slate(self, action: Any) -> np.ndarray:
        """The distinct-item slate an action stands for (repeats -> lowest unused candidates)."""
        picks = np.asarray(action, dtype=np.int64).reshape(self.slate_size)
        out = np.empty_like(picks)
        used: set[int] = set()
        spare = iter(range(self.num_candidates))
        for i, item in enumerate(picks.tolist()):
            if item in used:
                item = next(c for c in spare if c not in used)
            used.add(item)
            out[i] = item
        return out

    def step(self, action: Any):
        return self.env.step(self.slate(action))
