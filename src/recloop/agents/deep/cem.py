"""Cross-entropy method for policy search (Rubinstein, 1999; Szita & Lorincz, 2006).

The simple baseline to try first. Keep a Gaussian over the weights of a small
policy (linear by default, or one tanh hidden layer); each generation samples
``population`` weight vectors, scores each by the return of one episode, and
refits the mean and standard deviation to the best ``elite_frac``. Extra noise
that decays over generations keeps the search from collapsing too early.

Candidates play side by side, one env copy each, and their actions come from
one batched numpy product, so a generation costs one episode of wall time.
The learned policy is deterministic: ``probabilities`` is one-hot.

Example:
    >>> from recloop.agents.deep import CEM
    >>> agent = CEM(seed=0, population=8).learn("CartPole-v1", total_steps=2_000)
    >>> agent.act([0.0, 0.0, 0.0, 0.0]) in (0, 1)
    True
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from recloop.agents.deep._torch import torch
from recloop.agents.deep.base import DeepAgent, action_bounds
from recloop.agents.deep.callbacks import Hooks, UpdateEnd
from recloop.agents.deep.environments import make_envs


class CEM(DeepAgent):
    def __init__(self, *, hidden: int = 0, population: int = 32, elite_frac: float = 0.2, init_std: float = 1.0,
                 extra_noise: float = 0.1, noise_decay: float = 0.9, max_episode_steps: int = 1_000,
                 seed: int | None = None, threads: int | None = 1):
        super().__init__(seed=seed, threads=threads)
        if population < 2 or not 0 < elite_frac <= 1:
            raise ValueError("population must be >= 2 and elite_frac in (0, 1]")
        self.hidden, self.population, self.elite_frac = int(hidden), int(population), float(elite_frac)
        self.init_std, self.extra_noise, self.noise_decay = float(init_std), float(extra_noise), float(noise_decay)
        self.max_episode_steps = int(max_episode_steps)

    # ------------------------------------------------------------------ the policy as flat weights
    def _build(self) -> None:
        self._in = int(np.prod(self.spaces_["obs_shape"]))
        out = self.n_actions
        sizes = [(self._in, out), (out,)] if self.hidden == 0 else \
            [(self._in, self.hidden), (self.hidden,), (self.hidden, out), (out,)]
        self._shapes = sizes
        self._dim = int(sum(np.prod(s) for s in sizes))
        self.mean_ = np.zeros(self._dim)
        self.std_ = np.full(self._dim, self.init_std)
        self.generation_ = 0
        if not self.discrete:
            self._low, self._high = action_bounds(self.spaces_)

    def _modules(self) -> dict[str, torch.nn.Module]:
        return {}

    def _extra_state(self) -> dict[str, Any]:
        return {"mean": self.mean_, "std": self.std_, "generation": self.generation_}

    def _set_extra_state(self, state: dict[str, Any]) -> None:
        self.mean_, self.std_, self.generation_ = state["mean"], state["std"], int(state["generation"])

    def _forward(self, theta: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Policy outputs for weights ``theta (P, dim)`` and observations ``x (P, in)`` (one each)."""
        parts, i = [], 0
        for s in self._shapes:
            n = int(np.prod(s))
            parts.append(theta[:, i:i + n].reshape((len(theta),) + s))
            i += n
        if self.hidden == 0:
            return np.einsum("pi,pio->po", x, parts[0]) + parts[1]
        h = np.tanh(np.einsum("pi,pih->ph", x, parts[0]) + parts[1])
        return np.einsum("ph,pho->po", h, parts[2]) + parts[3]

    def _actions(self, out: np.ndarray) -> np.ndarray:
        if self.discrete:
            return out.argmax(1)
        return (self._low + (np.tanh(out) + 1.0) * (self._high - self._low) / 2.0).astype(np.float32)

    def _act_batch(self, obs: torch.Tensor, explore: bool) -> np.ndarray:
        x = obs.numpy().reshape(len(obs), -1)
        return self._actions(self._forward(np.broadcast_to(self.mean_, (len(x), self._dim)), x))

    def _probs_batch(self, obs: torch.Tensor) -> np.ndarray:
        a = self._act_batch(obs, explore=False)
        return np.eye(self.n_actions)[a]

    # ------------------------------------------------------------------ search
    def _learn(self, envs: list[gym.Env], total_steps: int, hooks: Hooks, seed: int | None) -> None:
        pool = make_envs(envs[0], self.population)
        end = self.steps_ + total_steps
        n_elite = max(1, int(round(self.elite_frac * self.population)))
        base_seed = 0 if seed is None else int(seed)
        while self.steps_ < end and not hooks.stop:
            noise = self.extra_noise * self.noise_decay ** self.generation_
            theta = self.mean_ + self.rng_.standard_normal((self.population, self._dim)) * self.std_
            returns = self._play(pool, theta, base_seed + self.generation_ * self.population, hooks, end)
            elite = theta[np.argsort(-returns)[:n_elite]]
            self.mean_ = elite.mean(0)
            self.std_ = elite.std(0) + noise
            self.generation_ += 1
            if hooks.callbacks:
                hooks.emit(UpdateEnd(self.steps_, {"charts/elite_return": float(np.sort(returns)[-n_elite:].mean()),
                                                   "charts/mean_std": float(self.std_.mean())}))

    def _play(self, pool: list[gym.Env], theta: np.ndarray, seed: int, hooks: Hooks, end: int) -> np.ndarray:
        """One episode per candidate, all candidates stepped together."""
        P = len(pool)
        obs = np.stack([np.asarray(e.reset(seed=seed + i)[0], dtype=np.float64).ravel() for i, e in enumerate(pool)])
        returns = np.zeros(P)
        lengths = np.zeros(P, dtype=np.int64)
        live = np.ones(P, dtype=bool)
        for _ in range(self.max_episode_steps):
            idx = np.flatnonzero(live)
            if idx.size == 0:
                break
            actions = self._actions(self._forward(theta[idx], obs[idx]))
            for j, i in enumerate(idx):
                o, r, term, trunc, _ = pool[i].step(actions[j].item() if self.discrete else actions[j])
                obs[i] = np.asarray(o, dtype=np.float64).ravel()
                returns[i] += r
                lengths[i] += 1
                if term or trunc:
                    live[i] = False
                    hooks.episodes_ended(self.steps_ + j + 1, [returns[i]], [lengths[i]])
            self.steps_ += idx.size
            hooks.progress(self.steps_, end, self)
        return returns
