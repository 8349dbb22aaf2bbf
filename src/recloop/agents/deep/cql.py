"""Discrete conservative Q-learning (Kumar et al., 2020, "Conservative Q-Learning for Offline
Reinforcement Learning", CQL(H)) from logged transitions.

A Q-network trained offline with the DQN loss alone overrates actions the log never tried: the
max in the target picks them precisely because nothing corrected them. CQL adds
``alpha * E_s[logsumexp_a Q(s, a) - Q(s, a_logged)]``, which pushes down every action's value
and pushes the logged one back up, so the greedy policy stays where the data is unless the data
says something better lies elsewhere. ``alpha=0`` is plain offline (double) DQN.

Example:
    >>> import numpy as np
    >>> from recloop.agents.deep.offline import Transitions
    >>> rng = np.random.default_rng(0)
    >>> obs = rng.normal(size=(200, 3)).astype(np.float32)
    >>> actions = rng.integers(0, 2, 200)
    >>> data = Transitions(obs, actions, (actions == (obs[:, 0] > 0)).astype(np.float32), obs,
    ...                    np.ones(200, np.float32), np.zeros(200, np.float32), np.arange(200), np.full(200, 0.5))
    >>> agent = DiscreteCQL(alpha=0.5, seed=0).learn_offline(data, gradient_steps=300)
    >>> int(agent.act(np.array([2.0, 0.0, 0.0], np.float32), explore=False))
    1
"""

from __future__ import annotations

import inspect
from typing import Any, Sequence


from recloop.agents.deep._torch import threads, torch
from recloop.agents.deep.dqn import DQN
from recloop.agents.deep.networks import clip_grads
from recloop.agents.deep.offline import Transitions, sample_batch, start_offline
from recloop.agents.deep.replay import ReplayBatch

F = torch.nn.functional


class DiscreteCQL(DQN):
    """DQN (double by default) plus the CQL(H) regulariser; see the module docstring.

    Takes DQN's hyper-parameters, plus ``alpha`` (the regulariser's weight). Learn from logs
    with :meth:`learn_offline`; ``learn(env, ...)`` also works (online CQL), though that is
    not what it is for."""

    def __init__(self, *, alpha: float = 1.0, network: str = "auto", hidden: Sequence[int] = (64, 64),
                 double: bool = True, gamma: float = 0.99, lr: float = 1e-3, batch_size: int = 64,
                 target_update_interval: int = 500, tau: float = 1.0, loss: str = "huber",
                 max_grad_norm: float | None = 10.0, seed: int | None = None, threads: int | None = 1):
        if alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {alpha}")
        super().__init__(network=network, hidden=hidden, double=double, gamma=gamma, lr=lr, batch_size=batch_size,
                         target_update_interval=target_update_interval, tau=tau, loss=loss,
                         max_grad_norm=max_grad_norm, exploration=0.0, seed=seed, threads=threads)
        self.alpha = float(alpha)

    def get_params(self) -> dict[str, Any]:
        sig = inspect.signature(DiscreteCQL.__init__)
        return {n: getattr(self, n) for n in sig.parameters if n != "self"}

    def learn_offline(self, data: Transitions, gradient_steps: int, *, n_actions: int | None = None) -> "DiscreteCQL":
        """``gradient_steps`` updates on uniform batches of ``data`` (target net copied every
        ``target_update_interval`` updates)."""
        rng = start_offline(self, data, gradient_steps, n_actions)
        with threads(self.threads):
            for step in range(int(gradient_steps)):
                self.train_step(sample_batch(data, self.batch_size, self.gamma, rng))
                if (step + 1) % self.target_update_interval == 0:
                    self.update_target()
        self.steps_ += int(gradient_steps)
        return self

    def train_step(self, batch: ReplayBatch) -> dict[str, Any]:
        obs = self._batch_obs(batch.obs)
        actions = torch.as_tensor(batch.actions, dtype=torch.int64)
        target = self.td_targets(batch)
        q_all = self.q_(obs)
        q = q_all.gather(1, actions[:, None]).squeeze(1)
        td = F.smooth_l1_loss(q, target) if self.loss == "huber" else (q - target).pow(2).mean()
        conservative = (torch.logsumexp(q_all, dim=1) - q).mean()
        loss = td + self.alpha * conservative
        for p in self._params:
            p.grad = None
        loss.backward()
        clip_grads(self._params, self.max_grad_norm)
        self.optimizer_.step()
        self._updates += 1
        return {"losses/td": td.detach(), "losses/cql": conservative.detach(), "charts/q": q.detach().mean()}
