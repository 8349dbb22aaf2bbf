"""BPR-MF: matrix factorisation trained with Bayesian personalised ranking (Rendle et al. 2009).

A history (not a user id) is what the serving face receives, so a user's vector is folded in
at scoring time as the mean of the learned *history* item factors (an asymmetric model,
Paterek 2007 / FISM, Kabbur et al. 2013) - this scores users unseen in training too.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from recloop.agents.reco.base import SequentialRecommender, evaluate
from recloop.agents.reco.training import Budget
from recloop.data.splits import SequentialSplit
from recloop.core.seeding import as_generator


class BPRMF(SequentialRecommender):
    name = "bpr"

    def __init__(self, *, dim: int = 64, lr: float = 5e-3, reg: float = 1e-5, batch_size: int = 2048,
                 epochs: int = 200, window: int = 50, patience: int = 5, seed: int = 0):
        self.dim, self.lr, self.reg, self.batch_size = dim, lr, reg, batch_size
        self.epochs, self.window, self.patience, self.seed = epochs, window, patience, seed

    def _user_vectors(self, hists: list[np.ndarray], hist_emb: torch.Tensor) -> torch.Tensor:
        """Mean history factor over each user's last ``window`` items (zeros for an empty history)."""
        idx = np.full((len(hists), self.window), len(hist_emb), dtype=np.int64)  # pad -> zero row
        for row, h in enumerate(hists):
            h = h[-self.window:]
            idx[row, self.window - len(h):] = h
        padded = torch.cat([hist_emb, torch.zeros(1, hist_emb.shape[1])])
        counts = torch.as_tensor((idx < len(hist_emb)).sum(1).clip(min=1), dtype=torch.float32)
        return padded[torch.as_tensor(idx)].sum(1) / counts[:, None]

    def fit(self, split: SequentialSplit, *, time_budget_s: float | None = None) -> "BPRMF":
        gen = torch.Generator().manual_seed(self.seed)
        rng = as_generator(self.seed)
        n = split.n_items
        self.n_items_ = n
        self.hist_ = (torch.randn(n, self.dim, generator=gen) * 0.05).requires_grad_()
        self.item_ = (torch.randn(n, self.dim, generator=gen) * 0.05).requires_grad_()
        self.bias_ = torch.zeros(n, requires_grad=True)
        opt = torch.optim.Adam([self.hist_, self.item_, self.bias_], lr=self.lr)
        seqs = split.train_sequences()
        seen = split.train_matrix() > 0
        users = np.concatenate([np.full(len(s), u) for u, s in enumerate(seqs)])
        pos = np.concatenate(seqs)
        budget, best, best_state, since = Budget(time_budget_s), -1.0, None, 0
        self.log_ = []
        for epoch in range(self.epochs):
            perm = rng.permutation(len(pos))
            for lo in range(0, len(perm), self.batch_size):
                idx = perm[lo:lo + self.batch_size]
                u, p = users[idx], pos[idx]
                neg = rng.integers(0, n, len(idx))
                clash = seen[u, neg]  # resample negatives the user has seen (once is enough here)
                neg[clash] = rng.integers(0, n, int(clash.sum()))
                uv = self._user_vectors([seqs[i] for i in u], self.hist_)
                diff = ((uv * (self.item_[p] - self.item_[neg])).sum(1)
                        + self.bias_[torch.as_tensor(p)] - self.bias_[torch.as_tensor(neg)])
                loss = -F.logsigmoid(diff).mean() + self.reg * (self.item_.pow(2).sum() + self.hist_.pow(2).sum())
                opt.zero_grad()
                loss.backward()
                opt.step()
                if budget.exhausted():
                    break
            score = evaluate(self, split, "valid")["ndcg@10"]
            self.log_.append({"epoch": epoch, "valid_ndcg@10": score, "cpu_s": budget.elapsed()})
            if score > best:
                best, since = score, 0
                best_state = [t.detach().clone() for t in (self.hist_, self.item_, self.bias_)]
            else:
                since += 1
            if since >= self.patience or budget.exhausted():
                break
        self.hist_, self.item_, self.bias_ = (t.detach() for t in best_state)
        return self

    @torch.no_grad()
    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        hists = self._check_histories(histories)
        return (self._user_vectors(hists, self.hist_) @ self.item_.T + self.bias_).numpy()

    def _state(self) -> dict[str, Any]:
        return {"hist": self.hist_.numpy(), "item": self.item_.numpy(), "bias": self.bias_.numpy()}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.hist_, self.item_, self.bias_ = (torch.as_tensor(np.asarray(state[k])) for k in ("hist", "item", "bias"))
