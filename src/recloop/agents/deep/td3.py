"""Twin delayed DDPG (Fujimoto et al., 2018).

Three fixes to DDPG's overestimation: the target uses the *smaller* of two
critics, the target action is smoothed with clipped noise, and the actor and
targets move only every ``policy_delay`` critic updates.

Example:
    >>> from recloop.agents.deep import TD3
    >>> agent = TD3(seed=0, learning_starts=100).learn("Pendulum-v1", total_steps=200)
    >>> agent.act([1.0, 0.0, 0.0], explore=False).shape
    (1,)
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from recloop.agents.deep._torch import torch
from recloop.agents.deep.continuous import (TARGETED_MODULES, ContinuousAgent, DeterministicActor, frozen_copy,
                                            make_critic, noisy_actions, polyak)
from recloop.agents.deep.networks import adam
from recloop.agents.deep.replay import ReplayBatch


class TwinCritic(torch.nn.Module):
    def __init__(self, build: Any):
        super().__init__()
        self.q1, self.q2 = build(), build()

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.q1(obs, action), self.q2(obs, action)


class TD3(ContinuousAgent):
    def __init__(self, *, network: str = "auto", hidden: Sequence[int] = (256, 256), gamma: float = 0.98,
                 actor_lr: float = 1e-3, critic_lr: float = 1e-3, buffer_size: int = 200_000, batch_size: int = 256,
                 learning_starts: int = 1_000, train_freq: int = 1, gradient_steps: int = 1, tau: float = 0.005,
                 action_noise: float = 0.1, policy_delay: int = 2, target_noise: float = 0.2,
                 target_noise_clip: float = 0.5, seed: int | None = None, threads: int | None = 1):
        super().__init__(seed=seed, threads=threads)
        self.network, self.hidden, self.gamma = network, tuple(hidden), float(gamma)
        self.actor_lr, self.critic_lr, self.buffer_size, self.batch_size = float(actor_lr), float(critic_lr), int(buffer_size), int(batch_size)
        self.learning_starts, self.train_freq, self.gradient_steps = int(learning_starts), int(train_freq), int(gradient_steps)
        self.tau, self.action_noise, self.policy_delay = float(tau), float(action_noise), int(policy_delay)
        self.target_noise, self.target_noise_clip = float(target_noise), float(target_noise_clip)

    def _build(self) -> None:
        shape, d = self.spaces_["obs_shape"], self.n_actions
        critic = lambda: TwinCritic(lambda: make_critic(shape, d, self.hidden, self.network))  # noqa: E731
        actor = lambda: DeterministicActor(shape, d, self.hidden, self.network)  # noqa: E731
        self.actor_, self.critic_ = actor(), critic()
        self.actor_target_, self.critic_target_ = frozen_copy(self.actor_, actor), frozen_copy(self.critic_, critic)
        self.actor_opt_ = adam(self.actor_.parameters(), self.actor_lr)
        self.critic_opt_ = adam(self.critic_.parameters(), self.critic_lr)
        self._updates = 0
        self._setup_scaling()

    def _modules(self) -> dict[str, torch.nn.Module]:
        return {name: getattr(self, name + "_") for name in TARGETED_MODULES}

    def _extra_state(self) -> dict[str, Any]:
        return {"updates": self._updates}  # the phase of the delayed policy updates

    def _set_extra_state(self, state: dict[str, Any]) -> None:
        self._updates = int(state.get("updates", 0))

    def _policy(self, obs: torch.Tensor, explore: bool) -> np.ndarray:
        return noisy_actions(self.actor_, obs, self.action_noise, self.rng_, explore)

    def train_step(self, batch: ReplayBatch) -> dict[str, Any]:
        obs, actions, returns, nxt, live_discount = self._batch_tensors(batch)
        with torch.no_grad():
            noise = (torch.randn(actions.shape, generator=self._torch_gen) * self.target_noise).clamp(
                -self.target_noise_clip, self.target_noise_clip)
            next_a = (self.actor_target_(nxt) + noise).clamp(-1.0, 1.0)
            q1_t, q2_t = self.critic_target_(nxt, next_a)
            target = returns + live_discount * torch.min(q1_t, q2_t)
        q1, q2 = self.critic_(obs, actions)
        critic_loss = (q1 - target).pow(2).mean() + (q2 - target).pow(2).mean()
        self.critic_opt_.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_opt_.step()
        self._updates += 1
        metrics: dict[str, Any] = {"losses/critic": critic_loss.detach()}
        if self._updates % self.policy_delay == 0:
            actor_loss = -self.critic_.q1(obs, self.actor_(obs)).mean()
            self.actor_opt_.zero_grad(set_to_none=True)
            actor_loss.backward()
            self.actor_opt_.step()
            polyak(self.critic_target_, self.critic_, self.tau)
            polyak(self.actor_target_, self.actor_, self.tau)
            metrics["losses/actor"] = actor_loss.detach()
        return metrics
