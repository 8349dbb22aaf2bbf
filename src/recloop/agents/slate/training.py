"""Train a slate agent on a vectorised simulator, and evaluate any slate policy on fresh users."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from recloop.agents.slate.base import SlatePolicy


def _transitions(obs: dict, slates: np.ndarray, next_obs: dict, reward: np.ndarray, terminated: np.ndarray,
                 infos: dict) -> dict[str, np.ndarray]:
    """Rows of (s, A, click, r, s', done); a finished user's response is in ``final_obs``."""
    click = next_obs["response"]["click"]
    if terminated.any() and "final_obs" in infos:
        click = np.where(terminated[:, None], infos["final_obs"]["response"]["click"], click)
    S = slates.shape[1]
    pos = np.where(click.any(axis=1), click.argmax(axis=1), S)
    return {"user": obs["user"], "doc": obs["doc"], "slate": slates, "click": pos, "reward": reward,
            "next_user": next_obs["user"], "next_doc": next_obs["doc"], "done": terminated.astype(np.float32)}


def train(agent: SlatePolicy, env: Any, total_steps: int, *, seed: int = 0,
          callback: Callable[[int, dict], None] | None = None) -> dict[str, list]:
    """Run ``env`` (a :class:`~recloop.envs.slate.base.SlateVectorEnv`) for ``total_steps`` user-steps,
    feeding transitions to ``agent.observe``. Returns ``{"charts/episode_return": [...], ...}``.

    The transition of step ``t`` is handed over at step ``t + 1``, once the next
    slate is known (SARSA's ``a'``).
    """
    obs, _ = env.reset(seed=seed)
    B = env.num_envs
    episode = np.zeros(B)
    history: dict[str, list] = {"charts/episode_return": [], "charts/step": [], "losses/td": []}
    pending = None
    done_steps = 0
    while done_steps < total_steps:
        slates = agent.select(obs, explore=True).slates
        if pending is not None:
            pending["next_slate"] = slates
            info = agent.observe(pending)
            if "losses/td" in info:
                history["losses/td"].append(info["losses/td"])
        next_obs, reward, terminated, _, infos = env.step(slates)
        pending = _transitions(obs, slates, next_obs, reward, terminated, infos)
        episode += reward
        done_steps += B
        if terminated.any():
            history["charts/episode_return"].extend(episode[terminated].tolist())
            history["charts/step"].extend([done_steps] * int(terminated.sum()))
            episode[terminated] = 0.0
        if callback is not None:
            callback(done_steps, history)
        obs = next_obs
    return history


def evaluate(policy: SlatePolicy, make_env: Callable[[int], Any], *, num_users: int = 500, seed: int = 10_000,
             explore: bool = False, max_steps: int = 10_000) -> np.ndarray:
    """Episode return of each of ``num_users`` fresh users (one session each), acting greedily."""
    env = make_env(num_users)
    obs, _ = env.reset(seed=seed)
    total = np.zeros(num_users)
    done = np.zeros(num_users, dtype=bool)
    for _ in range(max_steps):
        slates = policy.select(obs, explore=explore).slates
        obs, reward, terminated, _, _ = env.step(slates)
        total += np.where(done, 0.0, reward)
        done |= terminated
        if done.all():
            break
    return total
