"""Full-slate DQN: one Q-value per enumerated slate (Mnih et al. 2015, with the double-DQN
target of van Hasselt et al. 2016), the no-decomposition baseline of the SlateQ paper.

The network reads the user and all candidates and outputs ``Q(s, A)`` for each of
the ``K! / (K - S)!`` ordered slates, so it only fits small candidate sets; it
needs no choice model, and learns far more slowly than SlateQ for that reason.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from recloop.agents.slate.learner import ReplayLearner, mlp, soft_update, with_bias
from recloop.agents.slate.slates import enumerate_slates
from recloop.agents.deep._torch import seeded

MAX_SLATES = 5_000


class FullSlateDQN(ReplayLearner):
    """DQN whose actions are all ordered slates of the candidate set."""

    def __init__(self, num_candidates: int, slate_size: int, *, user_dim: int, doc_dim: int, gamma: float = 0.99,
                 hidden: tuple[int, ...] = (256, 256), tau: float = 0.01, reward_scale: float = 0.25,
                 **learner: Any):
        super().__init__(num_candidates, slate_size, user_dim=user_dim, doc_dim=doc_dim, **learner)
        self._slates = enumerate_slates(num_candidates, slate_size, True)
        if len(self._slates) > MAX_SLATES:
            raise ValueError(f"{len(self._slates)} slates is too many for full-slate DQN (max {MAX_SLATES}); "
                             "use SlateQ, which decomposes the slate")
        self.gamma, self.hidden, self.tau, self.reward_scale = float(gamma), tuple(hidden), float(tau), float(reward_scale)
        n_in = user_dim + 1 + num_candidates * doc_dim
        with seeded(self.seed):  # initial weights from the seed; torch's global generator is left as it was
            self._net, self._net_t = mlp(n_in, self.hidden, len(self._slates)), mlp(n_in, self.hidden, len(self._slates))
            self._net_t.load_state_dict(self._net.state_dict())
        self._opt = torch.optim.Adam(self._net.parameters(), lr=self.lr)
        # index of each ordered slate, to look up logged slates: base-K code of the items
        self._code = {tuple(s): i for i, s in enumerate(self._slates.tolist())}

    def _qs(self, user: torch.Tensor, doc: torch.Tensor, target: bool = False) -> torch.Tensor:
        x = torch.cat([with_bias(user), doc.flatten(1)], dim=1)
        return (self._net_t if target else self._net)(x)

    @torch.no_grad()
    def _greedy_slates(self, user: np.ndarray, doc: np.ndarray) -> np.ndarray:
        return self._slates[self._qs(*self._tensors(user, doc)).argmax(dim=1).numpy()]

    def _update(self, b: dict[str, np.ndarray]) -> dict[str, float]:
        user, doc = self._tensors(b["user"], b["doc"])
        nuser, ndoc = self._tensors(b["next_user"], b["next_doc"])
        with torch.no_grad():
            best = self._qs(nuser, ndoc).argmax(dim=1, keepdim=True)          # double DQN: online picks
            v_next = self._qs(nuser, ndoc, target=True).gather(1, best).squeeze(1)
            y = (torch.as_tensor(b["reward"]) * self.reward_scale
                 + self.gamma * (1.0 - torch.as_tensor(b["done"])) * v_next)
        idx = torch.as_tensor([self._code[tuple(s)] for s in b["slate"].tolist()])
        q = self._qs(user, doc).gather(1, idx[:, None]).squeeze(1)
        loss = torch.nn.functional.mse_loss(q, y)
        self._opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self._net.parameters(), 10.0)
        self._opt.step()
        soft_update(self._net_t, self._net, self.tau)
        return {"losses/td": float(loss.detach())}

    def _modules(self):
        return {"net": self._net, "net_t": self._net_t}

    def _init_params(self) -> dict:
        return dict(num_candidates=self.num_candidates, slate_size=self.slate_size, user_dim=self.user_dim,
                    doc_dim=self.doc_dim, gamma=self.gamma, hidden=list(self.hidden), tau=self.tau,
                    reward_scale=self.reward_scale, batch_size=self.batch_size, buffer_size=self.buffer_size,
                    learning_starts=self.learning_starts, train_every=self.train_every, lr=self.lr,
                    epsilon_start=self.epsilon_start, epsilon_end=self.epsilon_end,
                    epsilon_decay_steps=self.epsilon_decay_steps, seed=self.seed)
