"""Soft actor-critic (Haarnoja et al., 2018; automatic temperature from the 2018b follow-up).

Maximises return plus ``alpha`` times the policy's entropy. The actor is a
tanh-squashed Gaussian (log-probabilities corrected for the squashing), the
critics are twins with a clipped double-Q soft target
``r + gamma (min Q'(s', a') - alpha log pi(a'|s'))``, and ``alpha`` is tuned so
the entropy stays near ``-dim(A)`` when ``ent_coef="auto"``.

Example:
    >>> from recloop.agents.deep import SAC
    >>> agent = SAC(seed=0, learning_starts=100).learn("Pendulum-v1", total_steps=200)
    >>> agent.act([1.0, 0.0, 0.0], explore=False).shape
    (1,)
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from recloop.agents.deep._torch import torch
from recloop.agents.deep.continuous import ContinuousAgent, frozen_copy, make_critic, polyak
from recloop.agents.deep.networks import adam, make_encoder, mlp
from recloop.agents.deep.replay import ReplayBatch
from recloop.agents.deep.td3 import TwinCritic

nn = torch.nn
F = torch.nn.functional


class SquashedGaussianActor(nn.Module):
    def __init__(self, obs_shape: Sequence[int], action_dim: int, hidden: Sequence[int], network: str = "auto"):
        super().__init__()
        flat = network in ("auto", "mlp") and len(obs_shape) == 1
        self.encoder = make_encoder(obs_shape, network, hidden=()) if flat else make_encoder(obs_shape, network)
        self.body = mlp(self.encoder.out_dim, hidden)
        self.mean = nn.Linear(int(hidden[-1]), action_dim)
        self.log_std = nn.Linear(int(hidden[-1]), action_dim)

    def forward(self, obs: torch.Tensor, generator: torch.Generator | None = None,
                deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """``(action in [-1, 1], log pi(action|obs))``."""
        h = self.body(self.encoder(obs))
        mean, log_std = self.mean(h), self.log_std(h).clamp(-20.0, 2.0)
        if deterministic:
            return torch.tanh(mean), torch.zeros(len(mean))
        std = log_std.exp()
        eps = torch.randn(mean.shape, generator=generator)
        u = mean + std * eps
        logp = (-0.5 * eps.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(1)
        # log|d tanh(u)/du| = 2 (log 2 - u - softplus(-2u)), the numerically stable form
        logp = logp - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(1)
        return torch.tanh(u), logp


class SAC(ContinuousAgent):
    def __init__(self, *, network: str = "auto", hidden: Sequence[int] = (256, 256), gamma: float = 0.99,
                 lr: float = 1e-3, buffer_size: int = 200_000, batch_size: int = 256, learning_starts: int = 1_000,
                 train_freq: int = 1, gradient_steps: int = 1, tau: float = 0.005, ent_coef: float | str = "auto",
                 target_entropy: float | None = None, seed: int | None = None, threads: int | None = 1):
        super().__init__(seed=seed, threads=threads)
        if not (ent_coef == "auto" or (isinstance(ent_coef, (int, float)) and ent_coef >= 0)):
            raise ValueError(f"ent_coef must be 'auto' or a number >= 0, got {ent_coef!r}")
        self.network, self.hidden, self.gamma, self.lr = network, tuple(hidden), float(gamma), float(lr)
        self.buffer_size, self.batch_size, self.learning_starts = int(buffer_size), int(batch_size), int(learning_starts)
        self.train_freq, self.gradient_steps, self.tau = int(train_freq), int(gradient_steps), float(tau)
        self.ent_coef, self.target_entropy = ent_coef, target_entropy

    def _build(self) -> None:
        shape, d = self.spaces_["obs_shape"], self.n_actions
        critic = lambda: TwinCritic(lambda: make_critic(shape, d, self.hidden, self.network))  # noqa: E731
        self.actor_ = SquashedGaussianActor(shape, d, self.hidden, self.network)
        self.critic_ = critic()
        self.critic_target_ = frozen_copy(self.critic_, critic)
        self.actor_opt_ = adam(self.actor_.parameters(), self.lr)
        self.critic_opt_ = adam(self.critic_.parameters(), self.lr)
        auto = self.ent_coef == "auto"
        self.log_alpha_ = nn.Parameter(torch.zeros(1) if auto else torch.tensor([math.log(max(float(self.ent_coef), 1e-12))]))
        self.alpha_opt_ = adam([self.log_alpha_], self.lr) if auto else None
        self._target_entropy = -float(d) if self.target_entropy is None else float(self.target_entropy)
        self._setup_scaling()

    def _modules(self) -> dict[str, nn.Module]:
        return {"actor": self.actor_, "critic": self.critic_, "critic_target": self.critic_target_}

    def _extra_state(self) -> dict[str, Any]:
        return {"log_alpha": float(self.log_alpha_.detach())}

    def _set_extra_state(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            self.log_alpha_.fill_(float(state["log_alpha"]))

    def _policy(self, obs: torch.Tensor, explore: bool) -> np.ndarray:
        a, _ = self.actor_(obs, self._torch_gen, deterministic=not explore)
        return a.numpy()

    def train_step(self, batch: ReplayBatch) -> dict[str, Any]:
        obs, actions, returns, nxt, live_discount = self._batch_tensors(batch)
        alpha = self.log_alpha_.detach().exp()
        with torch.no_grad():
            next_a, next_logp = self.actor_(nxt, self._torch_gen)
            q1_t, q2_t = self.critic_target_(nxt, next_a)
            target = returns + live_discount * (torch.min(q1_t, q2_t) - alpha * next_logp)
        q1, q2 = self.critic_(obs, actions)
        critic_loss = 0.5 * ((q1 - target).pow(2).mean() + (q2 - target).pow(2).mean())
        self.critic_opt_.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_opt_.step()

        new_a, logp = self.actor_(obs, self._torch_gen)
        q_new = torch.min(*self.critic_(obs, new_a))
        actor_loss = (alpha * logp - q_new).mean()
        self.actor_opt_.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.actor_opt_.step()

        if self.alpha_opt_ is not None:
            alpha_loss = -(self.log_alpha_ * (logp.detach() + self._target_entropy)).mean()
            self.alpha_opt_.zero_grad(set_to_none=True)
            alpha_loss.backward()
            self.alpha_opt_.step()
        polyak(self.critic_target_, self.critic_, self.tau)
        return {"losses/critic": critic_loss.detach(), "losses/actor": actor_loss.detach(), "charts/alpha": alpha}
