"""RecNN-style actor-critic recommenders: DDPG and TD3 with a continuous action in item-embedding space.

The state is a frame of the last ``frame`` item embeddings (Zhao et al., "Deep reinforcement
learning for page-wise recommendations", RecSys 2018; the RecNN library's MovieLens setup). The
actor proposes an embedding; the catalogue is ranked by its closeness to that proposal (inner
product, cosine, or negative Euclidean distance). Item embeddings are fixed and come from a
truncated SVD of the training user x item matrix (matrix factorisation), as RecNN reuses
pre-trained embeddings.

Learning is offline, from logged transitions (state, logged next item's embedding, rating
reward, next state). DDPG (Lillicrap et al. 2016) and TD3 (Fujimoto et al. 2018: twin critics,
target-policy smoothing, delayed actor) share one implementation. Because logged data cover
few actions per state, the actor also regresses to the logged action with weight
``bc_weight`` - TD3+BC (Fujimoto & Gu, NeurIPS 2021); ``bc_weight=0`` is the plain algorithm.
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from recloop.agents.deep._torch import seeded
from recloop.agents.reco.base import SequentialRecommender, evaluate
from recloop.agents.reco.nets import load_state_arrays, state_arrays
from recloop.agents.reco.neural import rating_reward
from recloop.agents.reco.training import Budget
from recloop.data.splits import SequentialSplit
from recloop.core.seeding import as_generator


def svd_item_embeddings(split: SequentialSplit, dim: int) -> np.ndarray:
    """Item factors of the degree-normalised training matrix, rows scaled to unit length."""
    x = split.train_matrix()
    x = x / np.sqrt(x.sum(0, keepdims=True) + 1.0) / np.sqrt(x.sum(1, keepdims=True) + 1.0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    emb = vt[:dim].T * np.sqrt(s[:dim])
    return (emb / (np.linalg.norm(emb, axis=1, keepdims=True) + 1e-8)).astype(np.float32)


def frames(histories: Sequence[np.ndarray], frame: int) -> np.ndarray:
    """Last ``frame`` items of each history, left-padded with -1."""
    out = np.full((len(histories), frame), -1, dtype=np.int64)
    for row, h in enumerate(histories):
        h = np.asarray(h, dtype=np.int64)[-frame:]
        if h.size:
            out[row, frame - h.size:] = h
    return out


def mlp(inp: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inp, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, out))


class _Net(nn.Module):
    def __init__(self, emb: np.ndarray, frame: int, hidden: int, twin: bool):
        super().__init__()
        n, d = emb.shape
        # Row n is the zero "no item" padding embedding.
        self.register_buffer("emb", torch.cat([torch.as_tensor(emb), torch.zeros(1, d)]))
        self.actor = mlp(frame * d, hidden, d)
        self.critics = nn.ModuleList([mlp(frame * d + d, hidden, 1) for _ in range(2 if twin else 1)])

    def state(self, frame_idx: torch.Tensor) -> torch.Tensor:
        idx = torch.where(frame_idx < 0, torch.full_like(frame_idx, self.emb.shape[0] - 1), frame_idx)
        return self.emb[idx].flatten(1)

    def q(self, s: torch.Tensor, a: torch.Tensor) -> list[torch.Tensor]:
        return [c(torch.cat([s, a], 1)).squeeze(1) for c in self.critics]


class TD3Recommender(SequentialRecommender):
    name = "td3"

    def __init__(self, *, dim: int = 32, frame: int = 10, hidden: int = 256, lr: float = 1e-3,
                 batch_size: int = 256, gamma: float = 0.9, tau: float = 0.005, bc_weight: float = 1.0,
                 alpha: float = 0.5, policy_delay: int = 2, target_noise: float = 0.05, twin: bool = True,
                 distance: str = "ip", like_threshold: float = 4.0, epochs: int = 100, patience: int = 5,
                 seed: int = 0):
        if distance not in ("ip", "cosine", "euclidean"):
            raise ValueError(f"distance must be 'ip', 'cosine' or 'euclidean', got {distance!r}")
        self.dim, self.frame, self.hidden, self.lr, self.batch_size = dim, frame, hidden, lr, batch_size
        self.gamma, self.tau, self.bc_weight, self.alpha = gamma, tau, bc_weight, alpha
        self.policy_delay, self.target_noise, self.twin, self.distance = policy_delay, target_noise, twin, distance
        self.like_threshold, self.epochs, self.patience, self.seed = like_threshold, epochs, patience, seed

    def _transitions(self, split: SequentialSplit) -> tuple[np.ndarray, ...]:
        s, a, r, s2, d = [], [], [], [], []
        for u in range(split.n_users):
            seq, rat = split.train_sequence(u), split.train_ratings(u)
            for t in range(1, len(seq)):
                s.append(seq[max(0, t - self.frame):t])
                s2.append(seq[max(0, t + 1 - self.frame):t + 1])
                a.append(seq[t])
                r.append(rat[t])
                d.append(t == len(seq) - 1)
        reward = rating_reward(torch.as_tensor(np.asarray(r, np.float32)), like_threshold=self.like_threshold)
        return (frames(s, self.frame), np.asarray(a), reward.numpy(), frames(s2, self.frame), np.asarray(d, np.float32))

    def _update(self, step: int, s_idx, a, r, s2_idx, d) -> None:
        net, tgt = self.net_, self.target_
        s, s2, a_emb = net.state(s_idx), net.state(s2_idx), net.emb[a]
        with torch.no_grad():
            a2 = tgt.actor(s2)
            if self.target_noise > 0:  # TD3 target-policy smoothing
                a2 = a2 + (torch.randn_like(a2) * self.target_noise).clamp(-2 * self.target_noise, 2 * self.target_noise)
            q_next = torch.min(torch.stack(tgt.q(s2, a2)), 0).values
            target = r + self.gamma * (1.0 - d) * q_next
        critic_loss = sum(F.mse_loss(q, target) for q in net.q(s, a_emb))
        self.critic_opt_.zero_grad()
        critic_loss.backward()
        self.critic_opt_.step()
        if step % self.policy_delay == 0:
            proposal = net.actor(s)
            q = net.q(s, proposal)[0]
            lam = self.alpha / q.abs().mean().detach().clamp_min(1e-6)
            # Squared distance summed over embedding dimensions: with unit-norm item vectors a
            # per-dimension mean would make the BC term ~dim times weaker than TD3+BC intends.
            bc = (proposal - a_emb).pow(2).sum(1).mean()
            actor_loss = -lam * q.mean() + self.bc_weight * bc
            self.actor_opt_.zero_grad()
            actor_loss.backward()
            self.actor_opt_.step()
            with torch.no_grad():
                for p, tp in zip(net.parameters(), tgt.parameters()):
                    tp.lerp_(p, self.tau)

    def fit(self, split: SequentialSplit, *, time_budget_s: float | None = None) -> "TD3Recommender":
        with seeded(self.seed):  # torch's global generator is forked, never reset for the caller
            return self._fit(split, time_budget_s)

    def _fit(self, split: SequentialSplit, time_budget_s: float | None) -> "TD3Recommender":
        budget = Budget(time_budget_s)  # embeddings and transitions count against the budget too
        rng = as_generator(self.seed)
        self.n_items_ = split.n_items
        self.net_ = _Net(svd_item_embeddings(split, self.dim), self.frame, self.hidden, self.twin)
        self.target_ = copy.deepcopy(self.net_).requires_grad_(False)
        self.actor_opt_ = torch.optim.Adam(self.net_.actor.parameters(), lr=self.lr)
        self.critic_opt_ = torch.optim.Adam(self.net_.critics.parameters(), lr=self.lr)
        data = [torch.as_tensor(x) for x in self._transitions(split)]
        best, best_state, since, step = -1.0, None, 0, 0
        self.log_ = []
        for epoch in range(self.epochs):
            perm = torch.as_tensor(rng.permutation(len(data[0])))
            for lo in range(0, len(perm), self.batch_size):
                step += 1
                self._update(step, *(x[perm[lo:lo + self.batch_size]] for x in data))
                if budget.exhausted():
                    break
            score = evaluate(self, split, "valid")["ndcg@10"]
            self.log_.append({"epoch": epoch, "valid_ndcg@10": score, "cpu_s": budget.elapsed()})
            if score > best:
                best, best_state, since = score, copy.deepcopy(self.net_.state_dict()), 0
            else:
                since += 1
            if since >= self.patience or budget.exhausted():
                break
        self.net_.load_state_dict(best_state)
        return self

    @torch.no_grad()
    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        hists = self._check_histories(histories)
        proposal = self.net_.actor(self.net_.state(torch.as_tensor(frames(hists, self.frame))))
        items = self.net_.emb[:-1]
        if self.distance == "ip":
            return (proposal @ items.T).numpy()
        if self.distance == "cosine":
            return (F.normalize(proposal, dim=1) @ F.normalize(items, dim=1).T).numpy()
        return (-torch.cdist(proposal, items)).numpy()

    def _state(self) -> dict[str, Any]:
        return {"net": state_arrays(self.net_)}

    def _set_state(self, state: dict[str, Any]) -> None:
        emb = np.asarray(state["net"]["emb"])[:-1]
        self.net_ = _Net(emb, self.frame, self.hidden, self.twin)
        load_state_arrays(self.net_, state["net"])
        self.target_ = copy.deepcopy(self.net_)


class DDPGRecommender(TD3Recommender):
    """DDPG: one critic, no target smoothing, actor updated every step."""

    name = "ddpg"

    def __init__(self, *, dim: int = 32, frame: int = 10, hidden: int = 256, lr: float = 1e-3,
                 batch_size: int = 256, gamma: float = 0.9, tau: float = 0.005, bc_weight: float = 1.0,
                 alpha: float = 0.5, distance: str = "ip", like_threshold: float = 4.0, epochs: int = 100,
                 patience: int = 5, seed: int = 0):
        super().__init__(dim=dim, frame=frame, hidden=hidden, lr=lr, batch_size=batch_size, gamma=gamma, tau=tau,
                         bc_weight=bc_weight, alpha=alpha, policy_delay=1, target_noise=0.0, twin=False,
                         distance=distance, like_threshold=like_threshold, epochs=epochs, patience=patience,
                         seed=seed)
