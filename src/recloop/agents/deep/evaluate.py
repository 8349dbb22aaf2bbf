"""Evaluate an agent on seeded episodes, all run side by side so the network sees one batch per step."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recloop.agents.deep.environments import EnvSpec, env_name, make_envs
from recloop.core import registry


@dataclass(frozen=True, slots=True)
class EvalResult:
    mean_return: float
    std_return: float
    returns: tuple[float, ...]
    lengths: tuple[int, ...]


def evaluate_policy(agent: Any, env: EnvSpec, *, episodes: int = 20, seed: int = 0,
                    deterministic: bool = True, max_steps: int = 100_000) -> EvalResult:
    """Run ``episodes`` episodes (seeds ``seed, seed+1, ...``) with ``act_batch(explore=not deterministic)``.

    Episodes run in parallel copies of ``env``; each copy plays exactly one
    episode, so the result does not depend on how long the others last.
    """
    if episodes < 1:
        raise ValueError("episodes must be >= 1")
    envs = make_envs(env, episodes)
    obs = np.stack([np.asarray(e.reset(seed=seed + i)[0]) for i, e in enumerate(envs)])
    returns = np.zeros(episodes)
    lengths = np.zeros(episodes, dtype=np.int64)
    live = np.ones(episodes, dtype=bool)
    for _ in range(max_steps):
        idx = np.flatnonzero(live)
        if idx.size == 0:
            break
        actions = agent.act_batch(obs[idx], explore=not deterministic)
        for j, i in enumerate(idx):
            a = actions[j]
            o, r, term, trunc, _ = envs[i].step(a.item() if np.ndim(a) == 0 else a)
            returns[i] += r
            lengths[i] += 1
            obs[i] = o
            if term or trunc:
                live[i] = False
    for e in envs:
        e.close()
    return EvalResult(float(returns.mean()), float(returns.std()), tuple(returns.tolist()), tuple(lengths.tolist()))


def evaluate_checkpoint(checkpoint: Path, env: str, episodes: int = 20, seed: int = 0) -> dict:
    """Load a saved deep agent and score it on ``env`` (the ``recloop evaluate --env`` backend).

    Returns ``{"agent", "env", "episodes", "mean_return", "std_return", "min_return",
    "max_return", "mean_length", "returns"}``.
    """
    from recloop.agents.deep.base import DeepAgent

    agent = DeepAgent.load(checkpoint)
    res = evaluate_policy(agent, env, episodes=episodes, seed=seed, deterministic=True)
    return {
        "agent": registry.name_of(agent),
        "env": env_name(env),
        "episodes": episodes,
        "mean_return": res.mean_return,
        "std_return": res.std_return,
        "min_return": float(min(res.returns)),
        "max_return": float(max(res.returns)),
        "mean_length": float(np.mean(res.lengths)),
        "returns": list(res.returns),
    }
