"""SQN and SAC: self-supervised Q-learning / actor-critic for next-item recommendation
(Xin et al., "Self-Supervised Reinforcement Learning for Recommender Systems", SIGIR 2020).

One sequence encoder (GRU4Rec's by default, or SASRec's) feeds two heads: a supervised
cross-entropy head over the next item and a Q-learning head whose Q(s_t, a) is trained with
one-step TD targets ``r_t + gamma * Q'(s_{t+1}, argmax_a Q(s_{t+1}, a))`` (double Q-learning;
the target Q' is a Polyak-averaged copy of the Q head, read on the online encoder's next
state - the paper keeps a whole second network, which would double the cost per step). The
logged next item is the action; its reward comes from the rating. Both losses update the
encoder, so the RL signal shapes the state, and - as in the paper - the cross-entropy head
ranks at serving time (``rank_with="q"`` ranks by Q instead).

``head="sac"`` is the paper's SAC variant: the cross-entropy (actor) term of each logged step
is weighted by the critic's detached Q(s_t, a_t), so steps the critic values more pull the
policy harder. We normalise the weights to mean 1 in the batch (the paper uses raw Q; with
Q near 0 at the start that would stall the actor) and start weighting after ``sac_warmup``
optimiser steps, before which the critic is still noise.

``head="sa2c"`` (needs ``negatives``) is SA2C (Xin et al. 2022): the weight is the advantage
Q(s_t, a_t) minus the mean Q over the logged and the sampled items at s_t - how much better the
logged item is than a typical one - rather than Q itself. We clip it at 0 and normalise it to
mean 1 as for ``sac`` (the paper multiplies by the raw advantage, so a below-average step
pushes its item's probability down). On MovieLens-100k it scores below GRU4Rec (0.066 vs 0.071,
12 seeds, docs/movielens_results_sac.md): kept for comparison, not recommended.

Cost: the Q of the logged action is a dot product with one row of the Q head, and the target
head is read at one action only, so the critic adds one forward-only catalogue-wide product
(for the argmax at s_{t+1}) to the encoder's cross-entropy - not three full heads.

``next_action="ce"`` removes that last product too: the action at s_{t+1} is the argmax of
the cross-entropy head's logits, which the CE term has already computed for every state of
the window except its last one (s_{t+1} of step t is the state of step t+1). The TD target
then evaluates the greedy action of the policy that actually ranks at serving time (the CE
head), an on-policy target for the deployed ranker rather than the Q head's own max - the
same double-Q split (one head picks, the target head evaluates) with a different picker.
Only the one state per window whose logits were not computed gets a small extra product.
The default ``next_action="q"`` keeps the paper's Q-head argmax.

``negatives=N`` adds SNQN's negative actions (Xin et al. 2022, "Supervised Advantage
Actor-Critic for Recommender Systems"): without them the Q head only ever sees the logged item,
so it regresses one value per state rather than ranking items. On MovieLens-100k (120 CPU-s,
60 seeds), SQN with 50 negatives, a decaying step size and a 20-film window ties GRU4Rec trained
the same way: 0.0726 vs 0.0725 NDCG@10 (at the defaults, without negatives, it was below
GRU4Rec); the negatives' own share was not isolated. See docs/movielens_results_seeds.md.
With ``head="sac"`` as well it scores the same (0.073 over 36 seeds); weighting the
cross-entropy by the reward alone, with no critic, does worse than both.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from recloop.agents.reco.nets import item_logits, make_encoder, row_argmax
from recloop.agents.reco.neural import NeuralRecommender, mean_one, next_item_pairs, rating_reward
from recloop.agents.reco.training import check_lr_schedule


class _Net(nn.Module):
    def __init__(self, encoder: nn.Module, dim: int, n_items: int):
        super().__init__()
        self.encoder = encoder
        self.q_head = nn.Linear(dim, n_items)


class SQN(NeuralRecommender):
    name = "sqn"

    def __init__(self, *, encoder: str = "gru", head: str = "sqn", dim: int = 64, dropout: float = 0.3,
                 max_len: int = 50, batch_size: int = 128, lr: float = 3e-3, lr_schedule: str = "constant",
                 gamma: float = 0.5, q_weight: float = 1.0, tau: float = 0.01, like_threshold: float = 4.0,
                 rank_with: str = "ce", sac_warmup: int = 100, next_action: str = "q", negatives: int = 0,
                 weight_decay: float = 0.0, epochs: int = 200, patience: int = 10, seed: int = 0):
        if rank_with not in ("ce", "q"):
            raise ValueError(f"rank_with must be 'ce' or 'q', got {rank_with!r}")
        if head not in ("sqn", "sac", "sa2c"):
            raise ValueError(f"head must be 'sqn', 'sac' or 'sa2c', got {head!r}")
        if next_action not in ("q", "ce"):
            raise ValueError(f"next_action must be 'q' or 'ce', got {next_action!r}")
        if negatives < 0:
            raise ValueError(f"negatives must be >= 0, got {negatives}")
        if head == "sa2c" and not negatives:
            raise ValueError("head='sa2c' compares the logged item with sampled ones: set negatives >= 1")
        if not 0.0 <= gamma < 1.0:
            raise ValueError(f"gamma must be in [0, 1), got {gamma}")
        self.encoder, self.head, self.dim, self.dropout, self.max_len = encoder, head, dim, dropout, max_len
        self.batch_size, self.lr, self.gamma, self.q_weight, self.tau = batch_size, lr, gamma, q_weight, tau
        self.like_threshold, self.rank_with = like_threshold, rank_with
        self.sac_warmup, self.next_action, self.negatives = sac_warmup, next_action, negatives
        self.weight_decay, self.lr_schedule = weight_decay, check_lr_schedule(lr_schedule)
        self.epochs, self.patience, self.seed = epochs, patience, seed

    def _build(self, n_items: int) -> nn.Module:
        net = _Net(make_encoder(self.encoder, n_items, max_len=self.max_len, dim=self.dim, dropout=self.dropout),
                   self.dim, n_items)
        self.target_ = copy.deepcopy(net.q_head).requires_grad_(False)
        self.steps_ = 0
        return net

    def _after_step(self) -> None:
        self.steps_ += 1
        with torch.no_grad():
            for p, tp in zip(self.net_.q_head.parameters(), self.target_.parameters()):
                tp.lerp_(p, self.tau)

    def _loss(self, tokens: torch.Tensor, ratings: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        states_all = self.net_.encoder(tokens)
        states, actions, valid = next_item_pairs(states_all, tokens)
        next_states = states_all[:, 1:]
        reward = rating_reward(ratings[:, 1:], like_threshold=self.like_threshold)
        terminal = last[:, 1:].float()
        s, a, s2, r, d = states[valid], actions[valid], next_states[valid], reward[valid], terminal[valid]
        logits = item_logits(self.net_.encoder, s)
        ce = F.cross_entropy(logits, a, reduction="none")
        head = self.net_.q_head
        q = _q_at(head, s, a)  # Q(s, a) of the logged action only
        with torch.no_grad():
            # The picker's greedy item at every s_t (the CE logits are already there; else the
            # online Q head, as in double Q): shifted one step it is the action at s_{t+1}, and
            # the negatives' target uses it at s_t itself - one catalogue argmax serves both.
            greedy = row_argmax(logits if self.next_action == "ce" else head(s))
            best_next = self._next_action(greedy, valid, s2)
            q_next = _q_at(self.target_, s2, best_next)  # the target head evaluates
            target = r + self.gamma * (1.0 - d) * q_next
        td = F.smooth_l1_loss(q, target)
        if self.negatives:
            neg_td, q_neg = self._negative_td(s, greedy)
            td = td + neg_td
        if self.head != "sqn" and self.steps_ >= self.sac_warmup:
            w = sa2c_advantage(q.detach(), q_neg.detach()) if self.head == "sa2c" else q.detach()
            ce = ce * mean_one(w)
        return ce.mean() + self.q_weight * td

    def _negative_td(self, s: torch.Tensor, greedy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """SNQN's negative actions (Xin et al. 2022): items not chosen get reward 0 and leave the
        user where they were, so their target is ``gamma * Q'(s_t, a*)``, with a* = ``greedy``,
        picked at s_t as ``next_action`` picks at s_{t+1}.
        ``negatives`` uniform samples per batch. Returns the loss and the (steps x negatives) Q."""
        head = self.net_.q_head
        # One sample of negatives shared by the batch: a (steps x negatives) product, not a gather per step.
        neg = torch.randint(0, head.out_features, (self.negatives,), device=s.device)
        q_neg = s @ head.weight[neg].T + head.bias[neg]
        with torch.no_grad():
            target = self.gamma * _q_at(self.target_, s, greedy)
        return F.smooth_l1_loss(q_neg, target[:, None].expand_as(q_neg)), q_neg

    def _next_action(self, greedy: torch.Tensor, valid: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
        """The picker's argmax at s_{t+1} for each valid step t, reusing ``greedy``, its argmax
        at every s_t.

        Row j of ``greedy`` belongs to grid cell (b, t) of ``valid``; s_{t+1} is cell (b, t+1) of the
        states grid, whose argmax exists iff that cell is valid too - in a left-padded window all but
        the last column. The rest are scored here (about one row per window)."""
        grid = torch.full((valid.shape[0], valid.shape[1] + 1), -1, dtype=torch.long, device=greedy.device)
        grid[:, :-1][valid] = greedy
        best = grid[:, 1:][valid]
        missing = best < 0
        if missing.any():
            rest = s2[missing]
            best[missing] = row_argmax(item_logits(self.net_.encoder, rest) if self.next_action == "ce"
                                       else self.net_.q_head(rest))
        return best

    def _scores(self, states: torch.Tensor) -> torch.Tensor:
        if self.rank_with == "q":
            return self.net_.q_head(states)
        return item_logits(self.net_.encoder, states)

    def _set_state(self, state):
        super()._set_state(state)
        self.target_ = copy.deepcopy(self.net_.q_head)
        self.steps_ = 0


def sa2c_advantage(q: torch.Tensor, q_neg: torch.Tensor) -> torch.Tensor:
    """SA2C's advantage of the logged item: its Q minus the mean Q over it and the sampled items."""
    return q - torch.cat([q[:, None], q_neg], 1).mean(1)


def _q_at(head: nn.Linear, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """``head(states)[i, actions[i]]`` from one weight row per state, not the whole catalogue."""
    return (states * head.weight[actions]).sum(1) + head.bias[actions]
