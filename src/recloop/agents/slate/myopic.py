"""Myopic greedy: maximise the expected engagement of this step only, from learned models.

A conditional-logit click model ``P(i | s, A) ∝ exp(u(s, i))`` with a learned
no-click utility ``u(s, ⊥)``, trained by cross-entropy on logged clicks, and an
engagement model ``r(s, i)`` (reward given a click), trained by regression. The
slate maximises ``sum_i P(i | s, A) r(s, i)``, the one-step objective the
"myopic" rows of the SlateQ paper use; it ignores what the click does to the user.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from recloop.agents.slate.learner import ReplayLearner, mlp, with_bias
from recloop.agents.slate.slates import best_slates
from recloop.envs.slate.choice import MultinomialLogit
from recloop.agents.deep._torch import seeded


class MyopicGreedy(ReplayLearner):
    """Learned one-step click and engagement models; exact (or greedy) slate optimisation."""

    def __init__(self, num_candidates: int, slate_size: int, *, user_dim: int, doc_dim: int,
                 optimiser: str = "exact", hidden: tuple[int, ...] = (64, 64), **learner: Any):
        super().__init__(num_candidates, slate_size, user_dim=user_dim, doc_dim=doc_dim, **learner)
        self.optimiser, self.hidden = optimiser, tuple(hidden)
        with seeded(self.seed):  # initial weights from the seed; torch's global generator is left as it was
            self._utility = mlp(user_dim + 1 + doc_dim, self.hidden, 2)   # [click utility, engagement]
            self._null = mlp(user_dim + 1, self.hidden, 1)
        self._opt = torch.optim.Adam([*self._utility.parameters(), *self._null.parameters()], lr=self.lr)
        self._mnl = MultinomialLogit(no_click_mass=0.0)

    def _heads(self, user: torch.Tensor, doc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        u = with_bias(user)
        out = self._utility(torch.cat([u[:, None, :].expand(-1, doc.shape[1], -1), doc], dim=-1))
        return out[..., 0], out[..., 1], self._null(u).squeeze(-1)

    @torch.no_grad()
    def _greedy_slates(self, user: np.ndarray, doc: np.ndarray) -> np.ndarray:
        util, engagement, null = (t.double().numpy() for t in self._heads(*self._tensors(user, doc)))
        # Shift utilities by the no-click utility so one MNL with no-click mass 0 serves all rows.
        return best_slates(self.optimiser, self._mnl, util - null[:, None], engagement,
                           np.zeros(len(user)), self.slate_size)

    def _update(self, b: dict[str, np.ndarray]) -> dict[str, float]:
        util, engagement, null = self._heads(*self._tensors(b["user"], b["doc"]))
        slate = torch.as_tensor(b["slate"])
        rows = torch.arange(len(slate))[:, None]
        logits = torch.cat([util[rows, slate], null[:, None]], dim=1)      # [B, S + 1]
        click = torch.as_tensor(b["click"])
        click_loss = torch.nn.functional.cross_entropy(logits, click)
        clicked = click < self.slate_size
        reward_loss = torch.zeros(())
        if clicked.any():
            item = slate[rows[:, 0], click.clamp(max=self.slate_size - 1)]
            pred = engagement[torch.arange(len(slate)), item][clicked]
            reward_loss = ((pred - torch.as_tensor(b["reward"])[clicked]) ** 2).mean()
        loss = click_loss + reward_loss
        self._opt.zero_grad()
        loss.backward()
        self._opt.step()
        return {"losses/click": float(click_loss.detach()), "losses/engagement": float(reward_loss.detach())}

    def _modules(self):
        return {"utility": self._utility, "null": self._null}

    def _init_params(self) -> dict:
        return dict(num_candidates=self.num_candidates, slate_size=self.slate_size, user_dim=self.user_dim,
                    doc_dim=self.doc_dim, optimiser=self.optimiser, hidden=list(self.hidden),
                    batch_size=self.batch_size, buffer_size=self.buffer_size, learning_starts=self.learning_starts,
                    train_every=self.train_every, lr=self.lr, epsilon_start=self.epsilon_start,
                    epsilon_end=self.epsilon_end, epsilon_decay_steps=self.epsilon_decay_steps, seed=self.seed)
