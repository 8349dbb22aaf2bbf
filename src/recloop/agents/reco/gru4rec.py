"""GRU4Rec with a full-softmax cross-entropy loss (Hidasi et al. 2016; loss as in RecBole's CE setting).

``rating_weight=True`` weights each step's cross-entropy by SQN's two-level reward of the next
item (1.0 for a liked rating, 0.2 otherwise; normalised to mean 1 in the batch): the supervised
control for SQN's SAC head, which weights the same term by a learned Q(s, a) of that reward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from recloop.agents.reco.nets import item_logits, make_encoder
from recloop.agents.reco.neural import NeuralRecommender, mean_one, next_item_pairs, rating_reward
from recloop.agents.reco.training import check_lr_schedule


class _Net(nn.Module):
    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder


class GRU4Rec(NeuralRecommender):
    """Next-item prediction with a GRU over the last ``max_len`` items.

    Example:
        >>> from recloop.data.splits import sequences_split
        >>> split = sequences_split([0] * 12 + [1] * 12, list(range(12)) * 2)
        >>> GRU4Rec(epochs=2, dim=8).fit(split).score([[0, 1]]).shape
        (1, 12)
    """

    name = "gru4rec"

    def __init__(self, *, dim: int = 64, dropout: float = 0.3, max_len: int = 50, batch_size: int = 128,
                 lr: float = 3e-3, lr_schedule: str = "constant", rating_weight: bool = False,
                 like_threshold: float = 4.0, epochs: int = 200, patience: int = 10, seed: int = 0):
        self.dim, self.dropout, self.max_len, self.batch_size = dim, dropout, max_len, batch_size
        self.lr, self.lr_schedule = lr, check_lr_schedule(lr_schedule)
        self.rating_weight, self.like_threshold = rating_weight, like_threshold
        self.epochs, self.patience, self.seed = epochs, patience, seed

    def _build(self, n_items: int) -> nn.Module:
        return _Net(make_encoder("gru", n_items, max_len=self.max_len, dim=self.dim, dropout=self.dropout))

    def _loss(self, tokens: torch.Tensor, ratings: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        states, targets, valid = next_item_pairs(self.net_.encoder(tokens), tokens)
        logits = item_logits(self.net_.encoder, states[valid])
        if not self.rating_weight:
            return F.cross_entropy(logits, targets[valid])
        w = rating_reward(ratings[:, 1:], like_threshold=self.like_threshold)[valid]
        return (F.cross_entropy(logits, targets[valid], reduction="none") * mean_one(w)).mean()
