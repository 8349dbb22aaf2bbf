"""Proximal policy optimisation with the clipped objective and GAE (Schulman et al., 2017).

Collect ``n_steps`` from each of ``n_envs`` copies, then run ``n_epochs`` passes
of minibatch updates on

    L = -E[min(r A, clip(r, 1-eps, 1+eps) A)] + vf_coef (V - R)^2 - ent_coef H,
    r = pi(a|s) / pi_old(a|s).

Defaults are the rl-baselines3-zoo CartPole-v1 settings (8 envs x 32 steps,
20 epochs, gamma 0.98, lambda 0.8, linearly annealed lr 1e-3 and clip 0.2).

Example:
    >>> from recloop.agents.deep import PPO
    >>> agent = PPO(seed=0).learn("CartPole-v1", total_steps=512)
    >>> round(float(agent.probabilities([0.0, 0.0, 0.0, 0.0]).sum()), 9)
    1.0
"""

from __future__ import annotations

from typing import Sequence

import gymnasium as gym
import numpy as np

from recloop.agents.deep._torch import torch
from recloop.agents.deep.callbacks import Hooks, UpdateEnd
from recloop.agents.deep.networks import clip_grads
from recloop.agents.deep.onpolicy import (OnPolicyAgent, PairedMLP, collect_rollout, linear_decay,
                                          make_runner_and_buffer, rollout_tensors, set_lr)
from recloop.agents.deep.ppo_numpy import NumpyPPOGrad


class PPO(OnPolicyAgent):
    def __init__(self, *, network: str = "auto", hidden: Sequence[int] = (64, 64), activation: str = "tanh",
                 n_envs: int = 8, n_steps: int = 32, batch_size: int = 256, n_epochs: int = 20,
                 gamma: float = 0.98, gae_lambda: float = 0.8, clip_range: float = 0.2, lr: float = 1e-3,
                 anneal: bool = True, ent_coef: float = 0.0, vf_coef: float = 0.5, max_grad_norm: float | None = 0.5,
                 normalize_advantages: bool = True, log_std_init: float = 0.0, target_kl: float | None = None,
                 seed: int | None = None, threads: int | None = 1):
        super().__init__(seed=seed, threads=threads)
        if not 0 < clip_range < 1:
            raise ValueError(f"clip_range must be in (0, 1), got {clip_range}")
        if batch_size > n_envs * n_steps:
            raise ValueError(f"batch_size {batch_size} exceeds the rollout size n_envs*n_steps = {n_envs * n_steps}")
        self.network, self.hidden, self.activation = network, tuple(hidden), activation
        self.n_envs, self.n_steps, self.batch_size, self.n_epochs = int(n_envs), int(n_steps), int(batch_size), int(n_epochs)
        self.gamma, self.gae_lambda, self.clip_range, self.lr = float(gamma), float(gae_lambda), float(clip_range), float(lr)
        self.anneal, self.ent_coef, self.vf_coef, self.max_grad_norm = anneal, float(ent_coef), float(vf_coef), max_grad_norm
        self.normalize_advantages, self.log_std_init, self.target_kl = normalize_advantages, float(log_std_init), target_kl

    def _learn(self, envs: list[gym.Env], total_steps: int, hooks: Hooks, seed: int | None) -> None:
        runner, buffer = make_runner_and_buffer(self, envs, self.n_steps, seed)
        start, end = self.steps_, self.steps_ + total_steps
        while self.steps_ < end and not hooks.stop:
            frac_done = self.steps_ - start
            set_lr(self.optimizer_, linear_decay(self.lr, self.anneal, frac_done, total_steps))
            clip = linear_decay(self.clip_range, self.anneal, frac_done, total_steps)
            last_values = collect_rollout(self, runner, buffer, hooks, self.gamma, end)
            if not buffer.full:
                break
            data = buffer.finish(last_values, self.gamma, self.gae_lambda)
            grad = self._numpy_grad()
            metrics = (self._update_numpy(grad, data, clip) if grad is not None
                       else self._update(rollout_tensors(self, data), clip))
            if hooks.callbacks:
                hooks.emit(UpdateEnd(self.steps_, metrics))

    def _update(self, data: dict[str, torch.Tensor], clip: float) -> dict[str, float]:
        n = len(data["returns"])
        use_entropy = self.ent_coef != 0.0
        if self.batch_size >= n:
            data = {**data, "advantages": self._normalised(data["advantages"])}
        for epoch in range(self.n_epochs):  # noqa: B007 - the last epoch is reported after the loop
            for mb in self._minibatches(data, n):
                adv = mb["advantages"]
                out, values = self.model_(mb["obs"])
                logp, entropy = self.model_.log_prob_entropy(out, mb["actions"], entropy=use_entropy)
                log_ratio = logp - mb["log_probs"]
                ratio = log_ratio.exp()
                pg_loss = -torch.min(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv).mean()
                vf_loss = (values - mb["returns"]).pow(2).mean()
                loss = pg_loss + self.vf_coef * vf_loss
                if use_entropy:
                    loss = loss - self.ent_coef * entropy.mean()
                for p in self._params:  # cheaper than optimizer.zero_grad's bookkeeping
                    p.grad = None
                loss.backward()
                clip_grads(self._params, self.max_grad_norm)
                self.optimizer_.step()
            if self.target_kl is not None and self._approx_kl(log_ratio, ratio) > 1.5 * self.target_kl:
                break
        # diagnostics from the last minibatch only: per-minibatch bookkeeping would cost as much as the maths
        with torch.no_grad():
            _, entropy = self.model_.log_prob_entropy(out, mb["actions"])
            return {"losses/pg": float(pg_loss), "losses/vf": float(vf_loss), "losses/entropy": float(entropy.mean()),
                    "losses/clip_frac": float(((ratio - 1).abs() > clip).float().mean()),
                    "losses/kl": self._approx_kl(log_ratio, ratio), "charts/epochs": float(epoch + 1)}

    def _numpy_grad(self) -> NumpyPPOGrad | None:
        """The numpy loss/gradient for discrete MLP actor-critics (see ``ppo_numpy``), else None."""
        if not self.discrete or not isinstance(self.model_.torso, PairedMLP) or self._numpy_model is None:
            return None
        if getattr(self, "_grad_np", None) is None or self._grad_np.params[0] is not self._params[0]:
            self._grad_np = NumpyPPOGrad(self.model_)
        return self._grad_np

    def _update_numpy(self, grad: NumpyPPOGrad, data: dict[str, np.ndarray], clip: float) -> dict[str, float]:
        """``_update`` with the loss and gradients computed by ``grad``; the torch optimiser steps."""
        n = len(data["returns"])
        scale = self.spaces_["obs_scale"]
        obs = data["obs"].reshape(n, -1).astype(np.float32)
        if scale != 1.0:
            obs *= scale
        cols = {"obs": obs, "actions": data["actions"].astype(np.int64), "log_probs": data["log_probs"],
                "returns": data["returns"], "advantages": data["advantages"]}
        if self.batch_size >= n:
            cols["advantages"] = self._normalised(cols["advantages"])
        grad.attach()
        for epoch in range(self.n_epochs):  # noqa: B007 - the last epoch is reported after the loop
            for mb in self._minibatches(cols, n):
                out = grad(mb["obs"], mb["actions"], mb["log_probs"], mb["advantages"], mb["returns"], clip,
                           self.vf_coef, self.ent_coef, self.max_grad_norm)
                self.optimizer_.step()
            if self.target_kl is not None and self._approx_kl(out["log_ratio"], out["ratio"]) > 1.5 * self.target_kl:
                break
        ratio = out["ratio"]
        return {"losses/pg": out["pg"], "losses/vf": out["vf"], "losses/entropy": float(out["entropy"].mean()),
                "losses/clip_frac": float((np.abs(ratio - 1) > clip).mean()),
                "losses/kl": self._approx_kl(out["log_ratio"], ratio), "charts/epochs": float(epoch + 1)}

    def _minibatches(self, data: dict, n: int):
        """One epoch of shuffled minibatches with advantages normalised per minibatch. When one
        minibatch is the whole rollout (the zoo CartPole setting) shuffling changes nothing, so the
        rollout is used as it is, normalised once per update: a few ops fewer per gradient step."""
        if self.batch_size >= n:
            yield data
            return
        perm = self.rng_.permutation(n)
        perm = torch.as_tensor(perm) if torch.is_tensor(data["obs"]) else perm
        for i in range(0, n - self.batch_size + 1, self.batch_size):
            idx = perm[i:i + self.batch_size]
            mb = {k: data[k][idx] for k in ("obs", "actions", "log_probs", "returns", "advantages")}
            mb["advantages"] = self._normalised(mb["advantages"])
            yield mb

    def _normalised(self, adv):
        """Advantages scaled to mean 0, std 1 (torch tensor or numpy array; std with Bessel's correction
        in both, as torch's ``std``)."""
        if not self.normalize_advantages or len(adv) < 2:
            return adv
        std = adv.std() if torch.is_tensor(adv) else adv.std(ddof=1)
        return (adv - adv.mean()) / (std + 1e-8)

    @staticmethod
    def _approx_kl(log_ratio, ratio) -> float:
        """KL(old || new) estimated as E[(r - 1) - log r] (Schulman's k3 estimator: unbiased, >= 0)."""
        if not torch.is_tensor(ratio):
            return float(((ratio - 1) - log_ratio).mean())
        with torch.no_grad():
            return float(((ratio - 1) - log_ratio).mean())
