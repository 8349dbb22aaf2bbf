"""Deep deterministic policy gradient (Lillicrap et al., 2016).

A deterministic actor ``mu(s)`` is trained to maximise the critic ``Q(s, mu(s))``;
the critic regresses on ``r + gamma Q'(s', mu'(s'))`` with slowly tracking target
networks. Exploration adds Gaussian noise of scale ``action_noise`` (in the
normalised action range [-1, 1]).

Example:
    >>> from recloop.agents.deep import DDPG
    >>> agent = DDPG(seed=0, learning_starts=100).learn("Pendulum-v1", total_steps=200)
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


class DDPG(ContinuousAgent):
    def __init__(self, *, network: str = "auto", hidden: Sequence[int] = (256, 256), gamma: float = 0.98,
                 actor_lr: float = 1e-3, critic_lr: float = 1e-3, buffer_size: int = 200_000, batch_size: int = 256,
                 learning_starts: int = 1_000, train_freq: int = 1, gradient_steps: int = 1, tau: float = 0.005,
                 action_noise: float = 0.1, seed: int | None = None, threads: int | None = 1):
        super().__init__(seed=seed, threads=threads)
        self.network, self.hidden, self.gamma = network, tuple(hidden), float(gamma)
        self.actor_lr, self.critic_lr, self.buffer_size, self.batch_size = float(actor_lr), float(critic_lr), int(buffer_size), int(batch_size)
        self.learning_starts, self.train_freq, self.gradient_steps = int(learning_starts), int(train_freq), int(gradient_steps)
        self.tau, self.action_noise = float(tau), float(action_noise)

    def _build(self) -> None:
        shape, d = self.spaces_["obs_shape"], self.n_actions
        self.actor_ = DeterministicActor(shape, d, self.hidden, self.network)
        self.critic_ = make_critic(shape, d, self.hidden, self.network)
        self.actor_target_ = frozen_copy(self.actor_, lambda: DeterministicActor(shape, d, self.hidden, self.network))
        self.critic_target_ = frozen_copy(self.critic_, lambda: make_critic(shape, d, self.hidden, self.network))
        self.actor_opt_ = adam(self.actor_.parameters(), self.actor_lr)
        self.critic_opt_ = adam(self.critic_.parameters(), self.critic_lr)
        self._setup_scaling()

    def _modules(self) -> dict[str, torch.nn.Module]:
        return {name: getattr(self, name + "_") for name in TARGETED_MODULES}

    def _policy(self, obs: torch.Tensor, explore: bool) -> np.ndarray:
        return noisy_actions(self.actor_, obs, self.action_noise, self.rng_, explore)

    def train_step(self, batch: ReplayBatch) -> dict[str, Any]:
        obs, actions, returns, nxt, live_discount = self._batch_tensors(batch)
        with torch.no_grad():
            target = returns + live_discount * self.critic_target_(nxt, self.actor_target_(nxt))
        critic_loss = (self.critic_(obs, actions) - target).pow(2).mean()
        self.critic_opt_.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_opt_.step()

        actor_loss = -self.critic_(obs, self.actor_(obs)).mean()
        self.actor_opt_.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.actor_opt_.step()
        polyak(self.critic_target_, self.critic_, self.tau)
        polyak(self.actor_target_, self.actor_, self.tau)
        return {"losses/critic": critic_loss.detach(), "losses/actor": actor_loss.detach()}
