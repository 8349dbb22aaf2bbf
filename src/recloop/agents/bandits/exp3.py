"""EXP3: exponential weights for adversarial bandits."""

from __future__ import annotations

import numpy as np

from recloop.agents.bandits.base import BanditPolicy
from recloop.core.registry import register
from recloop.core.types import Feedback


@register("policy", "exp3")
class EXP3(BanditPolicy):
    """EXP3 (Auer, Cesa-Bianchi, Freund & Schapire 2002), rewards in [0, 1].

    ``p_k = (1 - gamma) w_k / sum(w) + gamma / K``; the chosen arm's weight grows by
    ``exp(gamma * r / (p_k K))`` — an importance-weighted, unbiased reward estimate.
    ``p_k`` and ``K`` are those *of the decision*: the probability the arm had when it
    was drawn and the number of candidates it was drawn from (a served decision may be
    rewarded long after, when the weights have moved). They come from the logged
    propensity of a :class:`Feedback`, else from the policy's own record of its last
    decision for that arm, else (an update with no decision, e.g. replaying logs) from
    the current probabilities over all arms.
    Weights are kept in log space, so long runs never overflow. Probabilities are exact.

    Example:
        >>> p = EXP3(n_arms=2, gamma=0.1, seed=0)
        >>> p.probabilities().tolist()
        [0.5, 0.5]
    """

    log_weights_: np.ndarray  # learned per-arm state, made by _new_arms

    def __init__(self, n_arms: int | None = None, *, gamma: float = 0.1, seed: int | None = None):
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {gamma!r}")
        self.gamma = gamma
        self._decisions: dict[int, tuple[float, int]] = {}  # arm -> (propensity, n candidates) of its last draw
        super().__init__(n_arms, seed=seed)

    def _new_arms(self, n: int) -> dict[str, np.ndarray]:
        return {"log_weights_": np.zeros(n)}

    def _probs(self, x, arms: np.ndarray) -> np.ndarray:
        lw = self.log_weights_[arms]
        w = np.exp(lw - lw.max())
        return (1.0 - self.gamma) * w / w.sum() + self.gamma / len(arms)

    def _scores(self, x, arms: np.ndarray) -> np.ndarray:
        return self.log_weights_[arms]

    def _choose(self, x, arms: np.ndarray) -> int:
        p = self._probs(x, arms)
        i = min(int(np.searchsorted(np.cumsum(p), self.rng_.random())), len(p) - 1)
        self._decisions[int(arms[i])] = (float(self._floored(p)[i]), len(arms))  # with any exploration floor
        return i

    def recommend(self, context, candidates, k: int = 1):
        rec = super().recommend(context, candidates, k)
        self._decisions[int(self._index[rec.chosen])] = (rec.propensity, len(candidates))
        return rec

    def update(self, action, reward=None, obs=None) -> None:
        if isinstance(action, Feedback) and action.propensity is not None:
            arm = int(self.item_arms([action.item_id], add=False)[0])
            k = self._decisions.get(arm, (0.0, self.arms_))[1]
            self._decisions[arm] = (float(action.propensity), k)
        super().update(action, reward, obs)

    def _learn(self, arm: int, reward: float, x) -> None:
        if not 0.0 <= reward <= 1.0:
            raise ValueError(f"EXP3 needs rewards in [0, 1], got {reward}")
        decision = self._decisions.pop(arm, None)
        if decision is None:
            p, k = float(self._probs(None, np.arange(self.arms_))[arm]), self.arms_
        else:
            p, k = decision
        if not 0.0 < p <= 1.0:
            raise ValueError(f"EXP3 needs the decision's propensity in (0, 1], got {p}")
        self.log_weights_[arm] += self.gamma * reward / (p * k)
