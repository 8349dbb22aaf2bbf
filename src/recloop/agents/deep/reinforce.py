"""REINFORCE with a learned baseline (Williams, 1992; Sutton & Barto, 2018, sec. 13.4).

Play ``batch_episodes`` whole episodes, then step along
``-sum_t log pi(a_t|s_t) (G_t - V(s_t))`` for the policy and ``(G_t - V(s_t))^2``
for the baseline, where ``G_t`` is the discounted return-to-go. The baseline
lowers the variance without biasing the gradient. An episode cut by a time
limit is completed with ``gamma * V(final obs)``.

Example:
    >>> from recloop.agents.deep import REINFORCE
    >>> agent = REINFORCE(seed=0).learn("CartPole-v1", total_steps=500)
    >>> round(float(agent.probabilities([0.0, 0.0, 0.0, 0.0]).sum()), 6)
    1.0
"""

from __future__ import annotations

from typing import Sequence

import gymnasium as gym
import numpy as np

from recloop.agents.deep._torch import torch
from recloop.agents.deep.callbacks import Hooks, UpdateEnd
from recloop.agents.deep.environments import EnvRunner
from recloop.agents.deep.networks import clip_grads
from recloop.agents.deep.onpolicy import OnPolicyAgent


def returns_to_go(rewards: np.ndarray, gamma: float, bootstrap: float = 0.0) -> np.ndarray:
    """``G_t = r_t + gamma G_{t+1}``, ``G_T = bootstrap``."""
    out = np.empty(len(rewards), dtype=np.float32)
    g = bootstrap
    for t in range(len(rewards) - 1, -1, -1):
        g = rewards[t] + gamma * g
        out[t] = g
    return out


class REINFORCE(OnPolicyAgent):
    def __init__(self, *, network: str = "auto", hidden: Sequence[int] = (64, 64), activation: str = "tanh",
                 gamma: float = 0.99, lr: float = 3e-3, batch_episodes: int = 4, normalize_advantages: bool = True,
                 max_grad_norm: float | None = 1.0, log_std_init: float = 0.0, seed: int | None = None,
                 threads: int | None = 1):
        super().__init__(seed=seed, threads=threads)
        if batch_episodes < 1:
            raise ValueError(f"batch_episodes must be >= 1, got {batch_episodes}")
        self.network, self.hidden, self.activation = network, tuple(hidden), activation
        self.gamma, self.lr, self.batch_episodes = float(gamma), float(lr), int(batch_episodes)
        self.normalize_advantages, self.max_grad_norm, self.log_std_init = normalize_advantages, max_grad_norm, float(log_std_init)
        self.n_envs = 1

    def _learn(self, envs: list[gym.Env], total_steps: int, hooks: Hooks, seed: int | None) -> None:
        runner = EnvRunner(envs, seed)
        end = self.steps_ + total_steps
        obs_l: list[np.ndarray] = []
        act_l: list[np.ndarray] = []
        rew_l: list[float] = []
        returns: list[np.ndarray] = []
        n_obs: list[np.ndarray] = []
        n_act: list[np.ndarray] = []
        while self.steps_ < end and not hooks.stop:
            obs = runner.obs
            with torch.no_grad():
                actions = self._sample(self.model_.policy(self._obs_tensor(obs, batched=True)), explore=True)
            _, rewards, term, trunc, final_obs, finished = runner.step(self._to_env(actions))
            obs_l.append(obs[0])
            act_l.append(actions[0])
            rew_l.append(float(rewards[0]))
            self.steps_ += 1
            if finished:
                hooks.episodes_ended(self.steps_, *zip(*finished))
                boot = 0.0
                if trunc[0] and not term[0]:
                    with torch.no_grad():
                        boot = float(self.model_.value(self._obs_tensor(final_obs, batched=True))[0])
                returns.append(returns_to_go(np.asarray(rew_l), self.gamma, boot))
                n_obs.append(np.stack(obs_l))
                n_act.append(np.stack(act_l))
                obs_l, act_l, rew_l = [], [], []
                if len(returns) >= self.batch_episodes:
                    metrics = self._update(np.concatenate(n_obs), np.concatenate(n_act), np.concatenate(returns))
                    returns, n_obs, n_act = [], [], []
                    if hooks.callbacks:
                        hooks.emit(UpdateEnd(self.steps_, metrics))
            hooks.progress(self.steps_, end, self)

    def _update(self, obs: np.ndarray, actions: np.ndarray, returns: np.ndarray) -> dict[str, float]:
        obs_t = self._obs_tensor(obs, batched=True)
        ret = torch.as_tensor(returns)
        out, values = self.model_(obs_t)
        logp, _ = self.model_.log_prob_entropy(out, self._action_tensor(actions))
        adv = (ret - values).detach()
        if self.normalize_advantages and len(adv) > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        pg_loss = -(logp * adv).mean()
        baseline_loss = (values - ret).pow(2).mean()
        self.optimizer_.zero_grad(set_to_none=True)
        (pg_loss + 0.5 * baseline_loss).backward()
        clip_grads(self._params, self.max_grad_norm)
        self.optimizer_.step()
        return {"losses/pg": float(pg_loss.detach()), "losses/baseline": float(baseline_loss.detach())}
