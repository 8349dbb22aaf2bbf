"""Shared plumbing of the torch recommenders: build, fit under a budget, score, save.

A concrete model supplies ``_build(n_items) -> nn.Module`` (with an ``encoder`` attribute),
``_loss(tokens, ratings, last) -> loss`` and optionally ``_scores(states)``; this class turns
that into the :class:`SequentialRecommender` contract.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from recloop.agents.deep._torch import seeded
from recloop.agents.reco.base import SequentialRecommender, evaluate
from recloop.agents.reco.nets import item_logits, load_state_arrays, pad_histories, state_arrays
from recloop.agents.reco.training import fit_loop
from recloop.data.splits import SequentialSplit


class NeuralRecommender(SequentialRecommender):
    """Base for torch models; hyper-parameters common to all live on the subclasses' ``__init__``."""

    max_len: int
    batch_size: int
    lr: float
    epochs: int
    patience: int
    seed: int

    @abstractmethod
    def _build(self, n_items: int) -> nn.Module: ...

    @abstractmethod
    def _loss(self, tokens: torch.Tensor, ratings: torch.Tensor, last: torch.Tensor) -> torch.Tensor: ...

    def _scores(self, states: torch.Tensor) -> torch.Tensor:
        """Catalogue scores from the final state of each history (default: the tied CE head)."""
        return item_logits(self.net_.encoder, states)

    def _after_step(self) -> None:
        """Hook after each optimiser step (target-network updates)."""

    def fit(self, split: SequentialSplit, *, time_budget_s: float | None = None) -> "NeuralRecommender":
        self.n_items_ = split.n_items
        with seeded(self.seed):  # torch's global generator is forked, never reset for the caller
            self.net_ = self._build(split.n_items)
        with seeded(self.seed):
            self.log_ = fit_loop(self.net_, self._loss, lambda: evaluate(self, split, "valid")["ndcg@10"], split,
                                 max_len=self.max_len, batch_size=self.batch_size, lr=self.lr, epochs=self.epochs,
                                 time_budget_s=time_budget_s, patience=self.patience, seed=self.seed,
                                 after_step=self._after_step, weight_decay=getattr(self, "weight_decay", 0.0),
                                 lr_schedule=getattr(self, "lr_schedule", "constant"))
        return self

    @torch.no_grad()
    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        hists = self._check_histories(histories)
        was_training = self.net_.training
        self.net_.eval()
        states = self.net_.encoder(pad_histories(hists, self.max_len))[:, -1]
        out = self._scores(states).numpy()
        self.net_.train(was_training)
        return out

    def _state(self) -> dict[str, Any]:
        return {"net": state_arrays(self.net_)}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.net_ = self._build(self.n_items_)
        load_state_arrays(self.net_, state["net"])
        self.net_.eval()


def rating_reward(ratings: torch.Tensor, *, like_threshold: float = 4.0, like: float = 1.0,
                  other: float = 0.2) -> torch.Tensor:
    """SQN's two-level reward (there: purchase 1.0 / click 0.2); here a liked rating vs any other."""
    return torch.where(ratings >= like_threshold, torch.full_like(ratings, like), torch.full_like(ratings, other))


def mean_one(w: torch.Tensor) -> torch.Tensor:
    """Per-step loss weights ``w`` clipped at 0 and scaled to mean 1: they tilt the loss between
    steps without changing its scale (and so the step size it needs)."""
    w = w.clamp_min(0.0)
    return w / w.mean().clamp_min(1e-6)


def next_item_pairs(states: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(state_t, target item_{t+1}, valid mask) over a window: drop pads and the first item."""
    valid = (tokens[:, :-1] > 0) & (tokens[:, 1:] > 0)
    return states[:, :-1], tokens[:, 1:] - 1, valid
