"""On-policy rollout storage with generalised advantage estimation (Schulman et al., 2016).

``A_t = sum_l (gamma*lambda)^l delta_{t+l}``, ``delta_t = r_t + gamma V(s_{t+1}) (1-term_t) - V(s_t)``,
where the sum stops at the end of an episode. A *truncated* episode (time limit)
did not end in the MDP, so its last reward is credited with ``gamma V(final obs)``
before the advantage is computed: cutting time off is not a terminal state.
"""

from __future__ import annotations

import numpy as np


def gae(rewards: np.ndarray, values: np.ndarray, last_values: np.ndarray, dones: np.ndarray,
        gamma: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Advantages and returns for ``(T, n_envs)`` arrays.

    ``dones[t]`` says the episode ended at step ``t`` (nothing is bootstrapped
    across it); ``last_values`` are V of the observations after the last step.
    """
    T = len(rewards)
    adv = np.zeros_like(rewards, dtype=np.float32)
    running = np.zeros(rewards.shape[1:], dtype=np.float32)
    next_values = last_values
    for t in range(T - 1, -1, -1):
        live = 1.0 - dones[t]
        delta = rewards[t] + gamma * next_values * live - values[t]
        running = delta + gamma * lam * live * running
        adv[t] = running
        next_values = values[t]
    return adv, adv + values


class RolloutBuffer:
    """``n_steps`` steps from ``n_envs`` environments, filled in order, then turned into a batch."""

    def __init__(self, n_steps: int, n_envs: int, obs_shape: tuple, obs_dtype: np.dtype,
                 action_shape: tuple = (), action_dtype: np.dtype = np.int64):
        shape = (n_steps, n_envs)
        self.obs = np.zeros(shape + tuple(obs_shape), dtype=obs_dtype)
        self.actions = np.zeros(shape + tuple(action_shape), dtype=action_dtype)
        self.log_probs = np.zeros(shape, dtype=np.float32)
        self.rewards = np.zeros(shape, dtype=np.float32)
        self.dones = np.zeros(shape, dtype=np.float32)
        self.values = np.zeros(shape, dtype=np.float32)
        self.n_steps, self.n_envs = n_steps, n_envs
        self.t = 0

    def add(self, obs, actions, log_probs, rewards, dones, values) -> None:
        t = self.t
        self.obs[t], self.actions[t], self.log_probs[t] = obs, actions, log_probs
        self.rewards[t], self.dones[t], self.values[t] = rewards, dones, values
        self.t += 1

    @property
    def full(self) -> bool:
        return self.t >= self.n_steps

    def finish(self, last_values: np.ndarray, gamma: float, lam: float) -> dict[str, np.ndarray]:
        """Flatten to ``(n_steps * n_envs, ...)`` arrays with advantages and returns; reset."""
        adv, ret = gae(self.rewards, self.values, last_values, self.dones, gamma, lam)
        n = self.n_steps * self.n_envs
        self.t = 0
        return {
            "obs": self.obs.reshape((n,) + self.obs.shape[2:]),
            "actions": self.actions.reshape((n,) + self.actions.shape[2:]),
            "log_probs": self.log_probs.reshape(n),
            "advantages": adv.reshape(n),
            "returns": ret.reshape(n),
            "values": self.values.reshape(n),
        }
