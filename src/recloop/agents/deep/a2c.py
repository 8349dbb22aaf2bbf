"""Advantage actor-critic, the synchronous A3C (Mnih et al., 2016).

``n_envs`` copies run ``n_steps`` each; one gradient step on
``-log pi(a|s) A + vf_coef (V - R)^2 - ent_coef H`` with GAE advantages
(``gae_lambda=1`` gives the classic n-step returns). Defaults follow the
rl-baselines3-zoo CartPole-v1 setting (8 envs, 5 steps, lr 7e-4) but use Adam.

Example:
    >>> from recloop.agents.deep import A2C
    >>> agent = A2C(seed=0).learn("CartPole-v1", total_steps=400)
    >>> agent.act([0.0, 0.0, 0.0, 0.0], explore=False) in (0, 1)
    True
"""

from __future__ import annotations

from typing import Sequence

import gymnasium as gym

from recloop.agents.deep._torch import torch
from recloop.agents.deep.callbacks import Hooks, UpdateEnd
from recloop.agents.deep.networks import clip_grads
from recloop.agents.deep.onpolicy import (OnPolicyAgent, collect_rollout, linear_decay,
                                          make_runner_and_buffer, rollout_tensors, set_lr)


class A2C(OnPolicyAgent):
    def __init__(self, *, network: str = "auto", hidden: Sequence[int] = (64, 64), activation: str = "tanh",
                 n_envs: int = 8, n_steps: int = 5, gamma: float = 0.99, gae_lambda: float = 1.0,
                 lr: float = 7e-4, anneal: bool = False, ent_coef: float = 0.0, vf_coef: float = 0.5,
                 max_grad_norm: float | None = 0.5, normalize_advantages: bool = False, log_std_init: float = 0.0,
                 seed: int | None = None, threads: int | None = 1):
        super().__init__(seed=seed, threads=threads)
        self.network, self.hidden, self.activation = network, tuple(hidden), activation
        self.n_envs, self.n_steps = int(n_envs), int(n_steps)
        self.gamma, self.gae_lambda, self.lr, self.anneal = float(gamma), float(gae_lambda), float(lr), anneal
        self.ent_coef, self.vf_coef, self.max_grad_norm = float(ent_coef), float(vf_coef), max_grad_norm
        self.normalize_advantages, self.log_std_init = normalize_advantages, float(log_std_init)

    def _learn(self, envs: list[gym.Env], total_steps: int, hooks: Hooks, seed: int | None) -> None:
        runner, buffer = make_runner_and_buffer(self, envs, self.n_steps, seed)
        start, end = self.steps_, self.steps_ + total_steps
        while self.steps_ < end and not hooks.stop:
            set_lr(self.optimizer_, linear_decay(self.lr, self.anneal, self.steps_ - start, total_steps))
            last_values = collect_rollout(self, runner, buffer, hooks, self.gamma, end)
            if not buffer.full:
                break
            metrics = self._update(rollout_tensors(self, buffer.finish(last_values, self.gamma, self.gae_lambda)))
            if hooks.callbacks:
                hooks.emit(UpdateEnd(self.steps_, metrics))

    def _update(self, data: dict[str, torch.Tensor]) -> dict[str, float]:
        adv = data["advantages"]
        if self.normalize_advantages:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        out, values = self.model_(data["obs"])
        logp, entropy = self.model_.log_prob_entropy(out, data["actions"])
        pg_loss = -(logp * adv).mean()
        vf_loss = (values - data["returns"]).pow(2).mean()
        loss = pg_loss + self.vf_coef * vf_loss - self.ent_coef * entropy.mean()
        self.optimizer_.zero_grad(set_to_none=True)
        loss.backward()
        clip_grads(self._params, self.max_grad_norm)
        self.optimizer_.step()
        return {"losses/pg": float(pg_loss.detach()), "losses/vf": float(vf_loss.detach()),
                "losses/entropy": float(entropy.detach().mean())}
