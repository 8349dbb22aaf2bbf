"""Deep Q-network (Mnih et al., 2015) with the usual improvements, each a switch:

* ``double=True``: the online net picks the next action, the target net scores it
  (van Hasselt et al., 2016), which removes max-operator overestimation;
* ``dueling=True``: Q = V + A - mean(A) head (Wang et al., 2016);
* ``n_step=n``: n-step returns ``sum_k gamma^k r_{t+k} + gamma^n max Q(s_{t+n})``
  (Sutton, 1988; Hessel et al., 2018), computed by the replay buffer;
* ``prioritized=True``: prioritised replay (Schaul et al., 2016);
* ``tau``: 1.0 copies the online net into the target every
  ``target_update_interval`` steps (hard update); ``tau < 1`` moves it
  ``tau`` of the way instead (Polyak / soft update, Lillicrap et al., 2016);
* ``network="candidates"``: observations are ``(N, F)`` rows of candidate features and the
  action picks a row; one MLP scores every row (:class:`CandidateQNetwork`), the re-ranking
  MDP of :mod:`recloop.envs.rerank`;
* ``exploration``: the epsilon schedule, a number or a schedule spec such as
  ``{"kind": "linear", "start": 1.0, "end": 0.05, "steps": 10000}``.

Example:
    >>> from recloop.agents.deep import DQN
    >>> agent = DQN(seed=0, learning_starts=100).learn("CartPole-v1", total_steps=300)
    >>> agent.act([0.0, 0.0, 0.0, 0.0], explore=False) in (0, 1)
    True
"""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium as gym
import numpy as np

from recloop.agents.deep._torch import torch
from recloop.agents.deep.base import DeepAgent
from recloop.agents.deep.callbacks import Hooks
from recloop.agents.deep.networks import CandidateQNetwork, QNetwork, adam, clip_grads, make_encoder
from recloop.agents.deep.offpolicy import run_off_policy
from recloop.agents.deep.replay import ReplayBatch, ReplayBuffer
from recloop.core.schedules import schedule
from recloop.core.seeding import derive

F = torch.nn.functional
DEFAULT_EXPLORATION = {"kind": "linear", "start": 1.0, "end": 0.05, "steps": 10_000}


class DQN(DeepAgent):
    action_kind = "discrete"
    stochastic = True

    def __init__(self, *, network: str = "auto", hidden: Sequence[int] = (64, 64), dueling: bool = False,
                 double: bool = True, n_step: int = 1, gamma: float = 0.99, lr: float = 1e-3,
                 buffer_size: int = 50_000, batch_size: int = 64, learning_starts: int = 1_000,
                 train_freq: int = 1, gradient_steps: int = 1, target_update_interval: int = 500,
                 tau: float = 1.0, exploration: float | dict | None = None, loss: str = "huber",
                 max_grad_norm: float | None = 10.0, prioritized: bool = False, priority_alpha: float = 0.6,
                 priority_beta: float = 0.4, n_envs: int = 1, seed: int | None = None, threads: int | None = 1):
        super().__init__(seed=seed, threads=threads)
        if not 0.0 < tau <= 1.0:
            raise ValueError(f"tau must be in (0, 1], got {tau}")
        if n_step < 1:
            raise ValueError(f"n_step must be >= 1, got {n_step}")
        if loss not in ("huber", "mse"):
            raise ValueError(f"loss must be 'huber' or 'mse', got {loss!r}")
        self.network, self.hidden, self.dueling, self.double = network, tuple(hidden), dueling, double
        self.n_step, self.gamma, self.lr = int(n_step), float(gamma), float(lr)
        self.buffer_size, self.batch_size, self.learning_starts = int(buffer_size), int(batch_size), int(learning_starts)
        self.train_freq, self.gradient_steps = int(train_freq), int(gradient_steps)
        self.target_update_interval, self.tau = int(target_update_interval), float(tau)
        self.exploration = DEFAULT_EXPLORATION if exploration is None else exploration
        self._epsilon = schedule(self.exploration)
        self.loss, self.max_grad_norm = loss, max_grad_norm
        self.prioritized, self.priority_alpha, self.priority_beta = prioritized, priority_alpha, priority_beta
        self.n_envs = int(n_envs)
        self.epsilon_ = float(self._epsilon(0))

    def _n_envs(self) -> int:
        return self.n_envs

    def _build(self) -> None:
        if self.network == "candidates":
            if self.dueling:
                raise ValueError("network='candidates' scores each candidate alone; it has no dueling head")
            self.q_ = CandidateQNetwork(self.spaces_["obs_shape"], self.hidden)
            self.target_ = CandidateQNetwork(self.spaces_["obs_shape"], self.hidden)
            self._finish_build()
            return
        enc = make_encoder(self.spaces_["obs_shape"], self.network, hidden=self.hidden)
        self.q_ = QNetwork(enc, self.n_actions, dueling=self.dueling)
        self.target_ = QNetwork(make_encoder(self.spaces_["obs_shape"], self.network, hidden=self.hidden),
                                self.n_actions, dueling=self.dueling)
        self._finish_build()

    def _finish_build(self) -> None:
        self.target_.load_state_dict(self.q_.state_dict())
        self.target_.requires_grad_(False)
        self._params = list(self.q_.parameters())
        self.optimizer_ = adam(self._params, self.lr)
        self._updates = 0
        self._q_numpy = self.q_.numpy_forward()  # None unless the encoder is a plain MLP

    def _modules(self) -> dict[str, torch.nn.Module]:
        return {"q": self.q_, "target": self.target_}

    def _extra_state(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon_}

    def _set_extra_state(self, state: dict[str, Any]) -> None:
        self.epsilon_ = float(state.get("epsilon", self.epsilon_))

    # ------------------------------------------------------------------ acting
    def q_values(self, obs: Any) -> np.ndarray:
        """Q(s, .) for one observation."""
        with torch.no_grad():
            return self.q_(self._obs_tensor(obs, batched=False))[0].numpy()

    def _act_batch(self, obs: torch.Tensor, explore: bool) -> np.ndarray:
        greedy = self.q_(obs).argmax(dim=1).numpy()
        if not explore or self.epsilon_ == 0.0:
            return greedy
        rand = self.rng_.random(len(greedy)) < self.epsilon_
        return np.where(rand, self.rng_.integers(0, self.n_actions, len(greedy)), greedy)

    def _probs_batch(self, obs: torch.Tensor) -> np.ndarray:
        q = self.q_(obs).numpy()
        best = q == q.max(axis=1, keepdims=True)
        greedy = best / best.sum(axis=1, keepdims=True)
        return (1.0 - self.epsilon_) * greedy + self.epsilon_ / self.n_actions

    def explore_step(self, obs: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
        self.epsilon_ = float(self._epsilon(step))
        n = len(obs)
        rand = self.rng_.random(n) < self.epsilon_
        actions = self.rng_.integers(0, self.n_actions, n)
        if not rand.all():  # skip the forward pass when every copy explores
            if self._q_numpy is not None:
                greedy = self._q_numpy(self._obs_array(obs)).argmax(axis=1)
            else:
                with torch.no_grad():
                    greedy = self.q_(self._obs_tensor(obs, batched=True)).argmax(dim=1).numpy()
            actions = np.where(rand, actions, greedy)
        return actions, actions

    # ------------------------------------------------------------------ learning
    def _learn(self, envs: list[gym.Env], total_steps: int, hooks: Hooks, seed: int | None) -> None:
        shape = tuple(self.spaces_["obs_shape"])
        buffer = ReplayBuffer(max(1, self.buffer_size // self.n_envs), shape, np.dtype(self.spaces_["obs_dtype"]),
                              n_envs=self.n_envs, n_step=self.n_step, gamma=self.gamma, prioritized=self.prioritized,
                              alpha=self.priority_alpha, beta=self.priority_beta, seed=derive(seed, "replay"))
        self._buffer = buffer
        self._next_target = self.steps_ + self.target_update_interval
        run_off_policy(self, envs, total_steps, hooks, seed, buffer, learning_starts=self.learning_starts,
                       train_freq=self.train_freq, gradient_steps=self.gradient_steps, batch_size=self.batch_size)

    def _batch_obs(self, obs: np.ndarray) -> torch.Tensor:
        t = torch.as_tensor(obs, dtype=torch.float32)
        scale = self.spaces_["obs_scale"]
        return t * scale if scale != 1.0 else t

    def td_targets(self, batch: ReplayBatch) -> torch.Tensor:
        """``R + gamma^m (1 - terminated) Q_target(s', a*)`` with ``a*`` from the online net if double,
        else from the target net (plain max)."""
        nxt = self._batch_obs(batch.next_obs)
        with torch.no_grad():
            q_next_target = self.target_(nxt)
            # a separate no-grad pass for s' (rather than one pass over s and s' together) keeps the
            # backward pass to the batch that needs it: half the work for conv nets
            chooser = self.q_(nxt) if self.double else q_next_target
            q_next = q_next_target.gather(1, chooser.argmax(dim=1, keepdim=True)).squeeze(1)
            live = 1.0 - torch.as_tensor(batch.terminated)
            return torch.as_tensor(batch.returns) + torch.as_tensor(batch.discounts) * live * q_next

    def train_step(self, batch: ReplayBatch) -> dict[str, Any]:
        obs = self._batch_obs(batch.obs)
        actions = torch.as_tensor(batch.actions, dtype=torch.int64)
        target = self.td_targets(batch)
        q = self.q_(obs).gather(1, actions[:, None]).squeeze(1)
        td = q - target
        per_item = F.smooth_l1_loss(q, target, reduction="none") if self.loss == "huber" else td.pow(2)
        loss = (per_item * torch.as_tensor(batch.weights)).mean() if self.prioritized else per_item.mean()
        for p in self._params:  # cheaper than optimizer.zero_grad, whose bookkeeping costs more than this
            p.grad = None
        loss.backward()
        clip_grads(self._params, self.max_grad_norm)
        self.optimizer_.step()
        if self.prioritized:
            self._buffer.update_priorities(batch.indices, td.detach().numpy())
        self._updates += 1
        return {"losses/td": loss.detach(), "charts/epsilon": self.epsilon_, "charts/q": q.detach().mean()}

    def after_env_step(self, step: int) -> None:
        if step >= self._next_target:
            self._next_target += self.target_update_interval
            self.update_target()

    def update_target(self) -> None:
        """Hard copy (``tau == 1``) or Polyak step ``target <- tau * online + (1 - tau) * target``."""
        with torch.no_grad():
            if self.tau >= 1.0:
                self.target_.load_state_dict(self.q_.state_dict())
            else:
                for t, o in zip(self.target_.parameters(), self.q_.parameters()):
                    t.lerp_(o, self.tau)
