"""REINFORCE with the top-K off-policy correction (Chen et al., "Top-K Off-Policy Correction for a
REINFORCE Recommender System", WSDM 2019).

A softmax policy pi(a|s) over the catalogue sits on an RNN user state. The logged actions
came from another policy beta, which is estimated by a separate softmax head trained by
maximum likelihood on the logged actions *without gradient into the state* (the paper's
"blocking gradient" trick, so beta cannot distort the user representation). The policy
gradient of each logged step is weighted by

    w = min(pi(a|s) / beta(a|s), c) * lambda_K,   lambda_K = K * (1 - pi(a|s)) ** (K - 1)

(capped importance weight; lambda_K corrects for showing K items at once) and by the
discounted return of the step's future ratings. The batch gradient is self-normalised by the
total weight (weighted importance sampling, a variance-reduction choice of ours).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from recloop.agents.reco.nets import item_logits, make_encoder
from recloop.agents.reco.neural import NeuralRecommender, next_item_pairs, rating_reward


def topk_correction_weight(pi: torch.Tensor, beta: torch.Tensor, k: int, cap: float) -> torch.Tensor:
    """``min(pi / beta, cap) * k * (1 - pi) ** (k - 1)`` for action probabilities ``pi``, ``beta``."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return torch.clamp(pi / beta, max=cap) * k * (1.0 - pi) ** (k - 1)


def discounted_returns(rewards: torch.Tensor, valid: torch.Tensor, gamma: float) -> torch.Tensor:
    """G_t = r_t + gamma * G_{t+1} along the last axis, restarted where ``valid`` is False."""
    out = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in range(rewards.shape[1] - 1, -1, -1):
        running = torch.where(valid[:, t], rewards[:, t] + gamma * running, torch.zeros_like(running))
        out[:, t] = running
    return out


class _Net(nn.Module):
    def __init__(self, encoder: nn.Module, dim: int, n_items: int):
        super().__init__()
        self.encoder = encoder
        self.beta_head = nn.Linear(dim, n_items)


class TopKReinforce(NeuralRecommender):
    name = "topk-reinforce"

    def __init__(self, *, encoder: str = "gru", dim: int = 64, dropout: float = 0.3, max_len: int = 50,
                 batch_size: int = 64, lr: float = 3e-3, k: int = 10, cap: float = 10.0, gamma: float = 0.5,
                 like_threshold: float = 4.0, epochs: int = 200, patience: int = 5, seed: int = 0):
        if k < 1 or cap <= 0:
            raise ValueError(f"need k >= 1 and cap > 0, got k={k}, cap={cap}")
        self.encoder, self.dim, self.dropout, self.max_len = encoder, dim, dropout, max_len
        self.batch_size, self.lr, self.k, self.cap, self.gamma = batch_size, lr, k, cap, gamma
        self.like_threshold, self.epochs, self.patience, self.seed = like_threshold, epochs, patience, seed

    def _build(self, n_items: int) -> nn.Module:
        return _Net(make_encoder(self.encoder, n_items, max_len=self.max_len, dim=self.dim, dropout=self.dropout),
                    self.dim, n_items)

    def _loss(self, tokens: torch.Tensor, ratings: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        states, actions, valid = next_item_pairs(self.net_.encoder(tokens), tokens)
        rewards = rating_reward(ratings[:, 1:], like_threshold=self.like_threshold)
        returns = discounted_returns(rewards, valid, self.gamma)[valid]
        s, a = states[valid], actions[valid]
        log_pi = F.log_softmax(item_logits(self.net_.encoder, s), -1).gather(1, a[:, None]).squeeze(1)
        log_beta_all = F.log_softmax(self.net_.beta_head(s.detach()), -1)
        log_beta = log_beta_all.gather(1, a[:, None]).squeeze(1)
        with torch.no_grad():
            weight = topk_correction_weight(log_pi.exp(), log_beta.exp(), self.k, self.cap)
        # Self-normalised (weighted) importance sampling: dividing by the batch's total weight
        # keeps the step size steady while pi/beta moves over orders of magnitude (without it
        # the capped weights, up to cap * K, made the loss swing by ~100x and training diverge).
        policy_loss = -(weight * returns * log_pi).sum() / (weight * returns).sum().clamp_min(1e-8)
        behaviour_loss = -log_beta.mean()
        return policy_loss + behaviour_loss
