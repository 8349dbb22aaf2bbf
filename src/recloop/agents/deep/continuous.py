"""Pieces shared by the continuous-action off-policy agents (DDPG, TD3, SAC).

Actors work in ``[-1, 1]^d`` (tanh output) and the replay buffer stores those
normalised actions; only the environment sees actions rescaled to its bounds.
Target networks follow their online twins by Polyak averaging with ``tau``.
"""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium as gym
import numpy as np

from recloop.agents.deep._torch import torch
from recloop.agents.deep.base import DeepAgent, action_bounds
from recloop.agents.deep.callbacks import Hooks
from recloop.agents.deep.networks import ContinuousCritic, make_encoder, mlp
from recloop.agents.deep.offpolicy import run_off_policy
from recloop.agents.deep.replay import ReplayBatch, ReplayBuffer
from recloop.core.seeding import derive

nn = torch.nn


class DeterministicActor(nn.Module):
    def __init__(self, obs_shape: Sequence[int], action_dim: int, hidden: Sequence[int], network: str = "auto"):
        super().__init__()
        self.encoder = make_encoder(obs_shape, network, hidden=()) if network in ("auto", "mlp") and len(obs_shape) == 1 \
            else make_encoder(obs_shape, network)
        self.body = mlp(self.encoder.out_dim, hidden, action_dim)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.body(self.encoder(obs)))


def make_critic(obs_shape: Sequence[int], action_dim: int, hidden: Sequence[int], network: str = "auto") -> ContinuousCritic:
    flat = network in ("auto", "mlp") and len(obs_shape) == 1
    enc = make_encoder(obs_shape, network, hidden=()) if flat else make_encoder(obs_shape, network)
    return ContinuousCritic(enc, action_dim, hidden)


def frozen_copy(module: nn.Module, build: Any) -> nn.Module:
    target = build()
    target.load_state_dict(module.state_dict())
    target.requires_grad_(False)
    return target


def polyak(target: nn.Module, source: nn.Module, tau: float) -> None:
    """``target <- tau * source + (1 - tau) * target`` (Lillicrap et al., 2016)."""
    with torch.no_grad():
        torch._foreach_lerp_(list(target.parameters()), list(source.parameters()), tau)


def noisy_actions(actor: nn.Module, obs: torch.Tensor, noise: float, rng: np.random.Generator,
                  explore: bool) -> np.ndarray:
    """Deterministic actor output plus clipped Gaussian exploration noise (DDPG, TD3)."""
    a = actor(obs).numpy()
    if explore and noise > 0:
        a = np.clip(a + noise * rng.standard_normal(a.shape), -1.0, 1.0)
    return a.astype(np.float32)


TARGETED_MODULES = ("actor", "critic", "actor_target", "critic_target")


class ContinuousAgent(DeepAgent):
    """Replay, exploration and scaling for DDPG/TD3/SAC; subclasses build networks and update."""

    action_kind = "continuous"
    buffer_size: int
    batch_size: int
    learning_starts: int
    train_freq: int
    gradient_steps: int
    gamma: float

    def _setup_scaling(self) -> None:
        low, high = action_bounds(self.spaces_)
        self._low, self._half = low, (high - low) / 2.0

    def _to_env(self, a: np.ndarray) -> np.ndarray:
        return (self._low + (np.clip(a, -1.0, 1.0) + 1.0) * self._half).astype(np.float32)

    def _policy(self, obs: torch.Tensor, explore: bool) -> np.ndarray:
        """Normalised actions in [-1, 1]."""
        raise NotImplementedError

    def _act_batch(self, obs: torch.Tensor, explore: bool) -> np.ndarray:
        return self._to_env(self._policy(obs, explore))

    def explore_step(self, obs: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
        if step < self.learning_starts:  # uniform actions fill the buffer before learning starts
            a = self.rng_.uniform(-1.0, 1.0, (len(obs), self.n_actions)).astype(np.float32)
        else:
            with torch.no_grad():
                a = self._policy(self._obs_tensor(obs, batched=True), explore=True)
        return self._to_env(a), a

    def after_env_step(self, step: int) -> None:
        pass

    def _learn(self, envs: list[gym.Env], total_steps: int, hooks: Hooks, seed: int | None) -> None:
        buffer = ReplayBuffer(self.buffer_size, tuple(self.spaces_["obs_shape"]), np.dtype(self.spaces_["obs_dtype"]),
                              (self.n_actions,), np.float32, gamma=self.gamma, seed=derive(seed, "replay"))
        run_off_policy(self, envs, total_steps, hooks, seed, buffer, learning_starts=self.learning_starts,
                       train_freq=self.train_freq, gradient_steps=self.gradient_steps, batch_size=self.batch_size)

    def _batch_tensors(self, batch: ReplayBatch) -> tuple[torch.Tensor, ...]:
        obs = self._obs_tensor(batch.obs, batched=True)
        nxt = self._obs_tensor(batch.next_obs, batched=True)
        live_discount = torch.as_tensor(batch.discounts * (1.0 - batch.terminated))
        return obs, torch.as_tensor(batch.actions), torch.as_tensor(batch.returns), nxt, live_discount
