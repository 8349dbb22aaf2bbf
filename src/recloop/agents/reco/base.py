"""The contract of a next-item recommender, and its evaluation under full ranking."""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from recloop.core import persist
from recloop.core.ranking import check_candidates, rank
from recloop.core.registry import build, declare
from recloop.core.seeding import as_generator
from recloop.core.types import Recommendation
from recloop.data.splits import SequentialSplit

# name -> "module:Class"; imported lazily so numpy-only baselines never import torch.
MODELS: dict[str, str] = {
    "pop": "recloop.agents.reco.popularity:Popularity",
    "itemknn": "recloop.agents.reco.item_knn:ItemKNN",
    "bpr": "recloop.agents.reco.bpr:BPRMF",
    "gru4rec": "recloop.agents.reco.gru4rec:GRU4Rec",
    "sasrec": "recloop.agents.reco.sasrec:SASRec",
    "sqn": "recloop.agents.reco.sqn:SQN",
    "topk-reinforce": "recloop.agents.reco.topk_reinforce:TopKReinforce",
    "ddpg": "recloop.agents.reco.actor_critic:DDPGRecommender",
    "td3": "recloop.agents.reco.actor_critic:TD3Recommender",
}


_SUMMARIES = {
    "pop": "Most popular items first (the floor every model must beat)",
    "itemknn": "Item-based k-nearest neighbours on co-occurrence",
    "bpr": "BPR matrix factorisation (pairwise ranking loss)",
    "gru4rec": "GRU4Rec: a recurrent next-item model trained with cross-entropy",
    "sasrec": "SASRec: a self-attentive next-item model",
    "sqn": "SQN / SAC / SNQN: a sequence model with a Q-learning head",
    "topk-reinforce": "REINFORCE with the top-K off-policy correction",
    "ddpg": "Actor-critic ranking by distance to a proto-item embedding (DDPG)",
    "td3": "Actor-critic ranking by distance to a proto-item embedding (TD3)",
}
for _name, _target in MODELS.items():
    declare("recommender", _name, _target, summary=_SUMMARIES[_name])


def make_recommender(name: str, **params: Any) -> "SequentialRecommender":
    """Build a recommender by its short name (``pop``, ``gru4rec``, ``sqn`` ...).

    A misspelt hyper-parameter is a ``TypeError`` that lists the ones the model takes."""
    return build("recommender", name, params)


class SequentialRecommender(ABC):
    """Scores the whole catalogue for a user history; items are dense indices ``0..n_items-1``.

    Subclasses set ``name``, take hyper-parameters as keyword arguments (stored unchanged,
    so ``get_params`` is generic) and keep learned state private or ending in ``_``.
    """

    name: str = "recommender"
    n_items_: int = 0

    def get_params(self) -> dict[str, Any]:
        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, p) for p in sig.parameters if p != "self"}

    @abstractmethod
    def fit(self, split: SequentialSplit, *, time_budget_s: float | None = None) -> "SequentialRecommender":
        """Learn from the training part of ``split`` (validation targets may steer early stopping)."""

    @abstractmethod
    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """(batch, n_items) float scores, higher = recommend first."""

    @abstractmethod
    def _state(self) -> dict[str, Any]:
        """Learned state as numpy arrays / plain values (for :func:`recloop.core.persist.save`)."""

    @abstractmethod
    def _set_state(self, state: dict[str, Any]) -> None: ...

    # ------------------------------------------------------------------ serving face
    def recommend(self, context: np.ndarray, candidates: Sequence[int] | None = None, k: int = 10,
                  *, temperature: float = 1.0, explore: bool = False,
                  seed: int | np.random.Generator | None = None) -> Recommendation:
        """Top-``k`` of ``candidates`` (default: all items) for history ``context``.

        With ``explore=True`` the first item is drawn from a softmax of the candidates' scores
        at ``temperature`` and the propensities are that softmax, so the log carries a real
        propensity. Otherwise the best-scoring item is shown and the propensities say so: 1
        for it, 0 for the others (such logs evaluate no other policy; explore when logging).
        """
        self._check_fitted()
        cand = np.arange(self.n_items_) if candidates is None else np.asarray(candidates, dtype=np.int64)
        if cand.size == 0:
            raise ValueError("no candidates to recommend from")
        if cand.min() < 0 or cand.max() >= self.n_items_:
            raise KeyError(f"candidate item index outside the catalogue 0..{self.n_items_ - 1}")
        ids = check_candidates(cand.tolist(), k)
        s = self.score([np.asarray(context, dtype=np.int64)])[0, cand].astype(np.float64)
        if explore:
            z = np.exp((s - s.max()) / max(temperature, 1e-8))
            p = z / z.sum()
        else:
            p = np.zeros(cand.size)
            p[int(np.argmax(s))] = 1.0  # argmax: ties go to the first, as np.argsort(stable) ranks them
        return rank(ids, p, s, k, as_generator(seed))

    def _check_fitted(self) -> None:
        if not self.n_items_:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(split) first")

    def _check_histories(self, histories: Sequence[np.ndarray]) -> list[np.ndarray]:
        self._check_fitted()
        out = [np.asarray(h, dtype=np.int64) for h in histories]
        for h in out:
            if h.size and (h.min() < 0 or h.max() >= self.n_items_):
                raise KeyError(f"history holds an item index outside the catalogue 0..{self.n_items_ - 1}")
        return out

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        return persist.save(path, kind="recommender", name=self.name, params=self.get_params(),
                            state={"n_items": self.n_items_, **self._state()})


def load_recommender(path: str | Path) -> SequentialRecommender:
    """Load any recommender saved with ``save`` (no dataset or environment needed)."""
    meta = persist.load(path)
    if meta.get("kind") != "recommender":
        raise ValueError(f"{path} holds a {meta.get('kind')!r}, not a recommender")
    model = make_recommender(meta["name"], **meta["params"])
    state = dict(meta["state"])
    model.n_items_ = int(state.pop("n_items"))
    model._set_state(state)
    return model


def evaluate(model: SequentialRecommender, split: SequentialSplit, which: str = "test", k: int = 10,
             *, batch_size: int = 256, exclude_history: bool = False) -> dict[str, float]:
    """HR@k, NDCG@k, MRR@k, coverage@k under full ranking (RecBole's protocol by default).

    ``exclude_history=True`` removes already-seen items from each ranking first (RecBole does
    not for sequential models, so the default keeps numbers comparable). ``seen@k`` is the share
    of top-k slots that hold an item of the user's own history (0 once they are excluded): in
    data where nobody repeats an item, those slots can never hit.
    """
    from recloop.metrics import ranking_metrics, target_ranks, top_k

    if k > split.n_items:
        raise ValueError(f"k={k} exceeds the catalogue of {split.n_items} items")
    _, hists, targets = split.eval_set(which)
    ranks, tops, seen = [], [], []
    for lo in range(0, len(hists), batch_size):
        s = np.asarray(model.score(hists[lo:lo + batch_size]), dtype=np.float64)
        rated = np.zeros(s.shape, bool)
        for row, h in enumerate(hists[lo:lo + batch_size]):
            rated[row, h] = True
        if exclude_history:
            s[rated] = -np.inf
        ranks.append(target_ranks(s, targets[lo:lo + batch_size]))
        tops.append(top_k(s, k))
        seen.append(np.take_along_axis(rated, tops[-1], 1).mean(1))
    out = ranking_metrics(np.concatenate(ranks), np.concatenate(tops), split.n_items, k)
    out[f"seen@{k}"] = float(np.concatenate(seen).mean())
    return out
