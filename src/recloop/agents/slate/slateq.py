"""SlateQ: value-based RL over slates by item decomposition.

Ie, Jain, Wang, Narvekar, Agarwal, Wu, Cheng, Chandra, Boutilier, "SlateQ: A
Tractable Decomposition for Reinforcement Learning with Recommendation Sets",
IJCAI 2019. Under a user choice model ``P(i | s, A)`` in which the user picks at
most one item, the value of a slate decomposes into per-item long-term values:

    Q(s, A) = sum_{i in A} P(i | s, A) Qbar(s, i)  (+ P(⊥ | s, A) Qbar(s, ⊥))

so one network ``Qbar(user, doc)`` is learned by TD on the item actually clicked,
and slates are optimised through the (known) choice model: exactly by
enumeration, or with the paper's greedy / top-k heuristics. Targets are
Q-learning (max over next slates) or SARSA (the slate actually shown next), with a
double-DQN twist (online net picks the next slate, target net values it).

RecSim's reference agent drops the no-click term (``Qbar(s, ⊥) = 0``) and learns
from clicked transitions only; ``no_click_value=True`` (our default) also learns
``Qbar(s, ⊥)`` from the no-click transitions, as in the paper's formulation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from recloop.agents.slate.base import affinities
from recloop.agents.slate.learner import ReplayLearner, mlp, soft_update, with_bias
from recloop.agents.slate.slates import best_slates, row_slate_values
from recloop.envs.slate.choice import ChoiceModel, choice_model
from recloop.agents.deep._torch import seeded


class SlateQ(ReplayLearner):
    """Per-item Q network + choice model; ``optimiser`` picks slates, ``target`` picks the TD rule."""

    def __init__(self, num_candidates: int, slate_size: int, *, user_dim: int, doc_dim: int,
                 choice: ChoiceModel | str | dict = "multinomial_proportional", affinity: str = "dot",
                 optimiser: str = "exact", target: str = "q-learning", double: bool = True,
                 no_click_value: bool = True, gamma: float = 0.99, hidden: tuple[int, ...] = (64, 64),
                 tau: float = 0.01, reward_scale: float = 0.25, **learner: Any):
        if optimiser not in ("exact", "greedy", "topk"):
            raise ValueError(f"optimiser must be 'exact', 'greedy' or 'topk', got {optimiser!r}")
        if target not in ("q-learning", "sarsa"):
            raise ValueError(f"target must be 'q-learning' or 'sarsa', got {target!r}")
        if not 0.0 <= gamma <= 1.0 or not 0.0 < tau <= 1.0:
            raise ValueError(f"need 0 <= gamma <= 1 and 0 < tau <= 1, got {gamma}, {tau}")
        super().__init__(num_candidates, slate_size, user_dim=user_dim, doc_dim=doc_dim, **learner)
        self.choice = choice_model(choice)
        self.affinity, self.optimiser, self.target, self.double = affinity, optimiser, target, bool(double)
        self.no_click_value, self.gamma, self.hidden = bool(no_click_value), float(gamma), tuple(hidden)
        self.tau, self.reward_scale = float(tau), float(reward_scale)
        affinities(np.zeros((1, user_dim)), np.zeros((1, num_candidates, doc_dim)), affinity)  # checks dims
        with seeded(self.seed):  # initial weights from the seed; torch's global generator is left as it was
            self._item = mlp(user_dim + 1 + doc_dim, self.hidden, 1)
            self._null = mlp(user_dim + 1, self.hidden, 1)
            self._item_t = mlp(user_dim + 1 + doc_dim, self.hidden, 1)
            self._null_t = mlp(user_dim + 1, self.hidden, 1)
            self._item_t.load_state_dict(self._item.state_dict())
            self._null_t.load_state_dict(self._null.state_dict())
        self._opt = torch.optim.Adam([*self._item.parameters(), *self._null.parameters()], lr=self.lr)

    @classmethod
    def for_env(cls, env: Any, **params: Any) -> "SlateQ":
        core = getattr(env, "core", env)
        params.setdefault("choice", core.choice_model)
        params.setdefault("affinity", getattr(core, "affinity_kind", "dot"))
        return super().for_env(env, **params)

    # ------------------------------------------------------------ values
    def _q(self, user: torch.Tensor, doc: torch.Tensor, target: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-item ``Qbar(s, i)`` ``[B, K]`` and ``Qbar(s, ⊥)`` ``[B]`` (zero when not learned)."""
        item, null = (self._item_t, self._null_t) if target else (self._item, self._null)
        u = with_bias(user)
        x = torch.cat([u[:, None, :].expand(-1, doc.shape[1], -1), doc], dim=-1)
        q = item(x).squeeze(-1)
        q0 = null(u).squeeze(-1) if self.no_click_value else torch.zeros(len(user))
        return q, q0

    @torch.no_grad()
    def item_values(self, obs: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(Qbar(s, i) [B, K], Qbar(s, ⊥) [B])`` in reward units, for inspection and tests."""
        from recloop.agents.slate.base import obs_arrays
        user, doc, _ = obs_arrays(obs)
        q, q0 = self._q(*self._tensors(user, doc))
        return q.numpy() / self.reward_scale, q0.numpy() / self.reward_scale

    @torch.no_grad()
    def _greedy_slates(self, user: np.ndarray, doc: np.ndarray) -> np.ndarray:
        q, q0 = self._q(*self._tensors(user, doc))
        aff = affinities(user, doc, self.affinity)
        return best_slates(self.optimiser, self.choice, aff, q.double().numpy(), q0.double().numpy(),
                           self.slate_size)

    # ------------------------------------------------------------ learning
    def _update(self, b: dict[str, np.ndarray]) -> dict[str, float]:
        user, doc = self._tensors(b["user"], b["doc"])
        nuser, ndoc = self._tensors(b["next_user"], b["next_doc"])
        with torch.no_grad():
            qn_t, q0n_t = self._q(nuser, ndoc, target=True)
            aff_n = affinities(b["next_user"], b["next_doc"], self.affinity)
            if self.target == "sarsa":
                next_slates = b["next_slate"]
            else:  # Q-learning: best next slate, chosen by the online net when double
                qn, q0n = self._q(nuser, ndoc) if self.double else (qn_t, q0n_t)
                next_slates = best_slates(self.optimiser, self.choice, aff_n, qn.double().numpy(),
                                          q0n.double().numpy(), self.slate_size)
            v_next = row_slate_values(self.choice, aff_n, qn_t.double().numpy(), q0n_t.double().numpy(),
                                      next_slates)
            y = torch.as_tensor(b["reward"] * self.reward_scale + self.gamma * (1.0 - b["done"]) * v_next,
                                dtype=torch.float32)
        q, q0 = self._q(user, doc)
        clicked = torch.as_tensor(b["click"] < self.slate_size)
        rows = torch.arange(len(q))
        pos = torch.as_tensor(np.minimum(b["click"], self.slate_size - 1))
        q_item = q[rows, torch.as_tensor(b["slate"])[rows, pos]]
        pred = torch.where(clicked, q_item, q0)
        weight = torch.ones_like(pred) if self.no_click_value else clicked.float()
        loss = (weight * (pred - y) ** 2).sum() / weight.sum().clamp(min=1.0)
        self._opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([*self._item.parameters(), *self._null.parameters()], 10.0)
        self._opt.step()
        soft_update(self._item_t, self._item, self.tau)
        soft_update(self._null_t, self._null, self.tau)
        return {"losses/td": float(loss.detach())}

    def _modules(self):
        return {"item": self._item, "null": self._null, "item_t": self._item_t, "null_t": self._null_t}

    def _init_params(self) -> dict:
        return dict(num_candidates=self.num_candidates, slate_size=self.slate_size, user_dim=self.user_dim,
                    doc_dim=self.doc_dim, choice={"name": _choice_name(self.choice), **self.choice.get_params()},
                    affinity=self.affinity, optimiser=self.optimiser, target=self.target, double=self.double,
                    no_click_value=self.no_click_value, gamma=self.gamma, hidden=list(self.hidden), tau=self.tau,
                    reward_scale=self.reward_scale, batch_size=self.batch_size, buffer_size=self.buffer_size,
                    learning_starts=self.learning_starts, train_every=self.train_every, lr=self.lr,
                    epsilon_start=self.epsilon_start, epsilon_end=self.epsilon_end,
                    epsilon_decay_steps=self.epsilon_decay_steps, seed=self.seed)


def _choice_name(model: ChoiceModel) -> str:
    from recloop.envs.slate.choice import CHOICE_MODELS
    return next(k for k, v in CHOICE_MODELS.items() if isinstance(model, v))
