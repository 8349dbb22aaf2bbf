"""The interaction loop of tabular agents: act, step, learn; and greedy evaluation.

Truncation (a time limit) is not termination: a truncated step still bootstraps
from the next state, a terminated one does not (Pardo et al., 2018, "Time
Limits in Reinforcement Learning").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True, slots=True)
class EpisodeEnd:
    """Callback event after each episode (namespaced like ``charts/episode_return``)."""

    episode: int
    step: int
    episode_return: float
    length: int
    epsilon: float


@dataclass(frozen=True, slots=True)
class LearningCurve:
    """Per-episode returns and lengths of a :func:`learn` run."""

    returns: np.ndarray
    lengths: np.ndarray

    @property
    def steps(self) -> int:
        return int(self.lengths.sum())

    def smoothed(self, window: int = 50) -> np.ndarray:
        """Moving average of the returns (shorter windows at the start)."""
        r = np.asarray(self.returns, dtype=np.float64)
        if r.size == 0:
            return r
        c = np.cumsum(np.insert(r, 0, 0.0))
        idx = np.arange(1, r.size + 1)
        lo = np.maximum(idx - window, 0)
        return (c[idx] - c[lo]) / (idx - lo)


def learn(agent: Any, env: Any, *, episodes: int | None = None, total_steps: int | None = None,
          seed: int | None = None, progress: bool = False,
          callback: Callable[[EpisodeEnd], Any] | None = None) -> LearningCurve:
    """Train ``agent`` on ``env`` for ``episodes`` episodes or ``total_steps`` steps (whichever is given).

    ``seed`` seeds the env's first reset (later resets continue its stream).
    ``progress=True`` shows a rich progress bar. A ``callback`` returning ``False``
    stops early.
    """
    if (episodes is None) == (total_steps is None):
        raise ValueError("pass exactly one of episodes= or total_steps=")
    budget = int(episodes if episodes is not None else total_steps)
    if budget < 1:
        raise ValueError(f"the training budget must be positive, got {budget}")
    n_obs = getattr(env.observation_space, "n", None)
    if n_obs is None or int(n_obs) > agent.n_states or int(getattr(env.action_space, "n", -1)) != agent.n_actions:
        raise ValueError(
            f"{type(agent).__name__}({agent.n_states} states, {agent.n_actions} actions) does not fit "
            f"{type(env).__name__} (observations {env.observation_space}, actions {env.action_space})"
        )
    returns: list[float] = []
    lengths: list[int] = []
    bar = None
    if progress:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(TextColumn(f"{type(agent).__name__}"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("return {task.fields[ret]:.3f}"), TimeElapsedColumn())
        task = bar.add_task("learn", total=budget, ret=0.0)
        bar.start()
    steps = 0
    try:
        while True:
            obs, _ = env.reset(seed=seed if not returns else None)
            ret, length, done = 0.0, 0, False
            while not done:
                a = agent.act(obs)
                nxt, r, terminated, truncated, _ = env.step(a)
                agent.update(a, r, obs, next_obs=nxt, terminated=terminated)
                obs, ret, length, steps = nxt, ret + float(r), length + 1, steps + 1
                done = terminated or truncated or (total_steps is not None and steps >= budget)
            returns.append(ret)
            lengths.append(length)
            if bar is not None:
                bar.update(task, completed=len(returns) if episodes is not None else steps, ret=float(np.mean(returns[-50:])))
            event = EpisodeEnd(len(returns), steps, ret, length, agent.exploration_rate)
            if callback is not None and callback(event) is False:
                break
            if (episodes is not None and len(returns) >= budget) or (total_steps is not None and steps >= budget):
                break
    finally:
        if bar is not None:
            bar.stop()
    return LearningCurve(np.asarray(returns), np.asarray(lengths, dtype=np.int64))


def evaluate(agent: Any, env: Any, *, episodes: int = 10, seed: int | None = None) -> np.ndarray:
    """Returns of ``episodes`` greedy episodes (no exploration, no learning)."""
    out = np.empty(int(episodes))
    for i in range(int(episodes)):
        obs, _ = env.reset(seed=None if seed is None else seed + i)
        total, done = 0.0, False
        while not done:
            obs, r, terminated, truncated, _ = env.step(agent.act(obs, explore=False))
            total += float(r)
            done = terminated or truncated
        out[i] = total
    return out
