"""Off-policy learning proper: a softmax policy trained to maximise an IPS / DR estimate of its value.

Counterfactual risk minimisation (Swaminathan & Joachims 2015, POEM; Joachims,
Swaminathan & de Rijke 2018, BanditNet): with logs of ``(x_i, a_i, p_i, r_i)``
from another policy, choose the parameters of a stochastic policy ``pi_theta``
that maximise an off-policy estimate of its value,

    V_IPS(theta) = 1/n sum_i  pi_theta(a_i | x_i) / p_i * (r_i - lambda)
    V_DR(theta)  = 1/n sum_i [ sum_a pi_theta(a | x_i) q(x_i, a)
                               + pi_theta(a_i | x_i) / p_i * (r_i - q(x_i, a_i)) ]

``lambda`` is BanditNet's baseline (translating the reward makes the objective
equivariant; the mean logged reward is its usual choice), ``q`` a reward model
cross-fitted on the logs (Dudik et al. 2011's doubly robust estimate; the
objective OBP's ``NNPolicyLearner(off_policy_objective="dr")`` uses). The policy
is linear-softmax over item ids: ``pi(a | x) ∝ exp(x . theta_a + b_a)``, fitted by
L-BFGS with the exact gradient and an L2 penalty. Both objectives are linear in
``pi``, so with ``d/dz_b pi_a = pi_a (1[a=b] - pi_b)`` the gradient of event ``i``
for arm ``b`` is ``pi_ib (c_ib - sum_a pi_ia c_ia)`` with ``c_ia`` the per-action
coefficient (``q_ia`` plus the weighted residual on the logged action).

Online (``update``), it is a contextual gradient bandit: one REINFORCE step on
``r log pi(a | x)`` for the action it chose (Sutton & Barto 2018, section 2.8).

Example:
    >>> import numpy as np
    >>> from recloop.data.logs import LoggedFeedback
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(2000, 2)); a = rng.integers(2, size=2000)
    >>> r = (rng.random(2000) < np.where(a == (X[:, 0] > 0), 0.9, 0.1)).astype(float)
    >>> logs = LoggedFeedback.from_arrays(action=a, reward=r, propensity=np.full(2000, 0.5), context=X,
    ...                                   item_ids=["left", "right"])
    >>> pol = OffPolicySoftmax(n_features=2, seed=0).fit(logs)
    >>> pol.item_scores(np.array([2.0, 0.0]), ["left", "right"]).argmax()   # x0 > 0: "right" pays
    np.int64(1)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recloop.agents.bandits.base import BanditPolicy
from recloop.core.registry import register
from recloop.data.logs import fingerprint

OBJECTIVES = ("dr", "ips", "snips")


@register("policy", "offpolicy-softmax", "poem", "banditnet")
class OffPolicySoftmax(BanditPolicy):
    """Linear softmax policy over item ids, fitted to maximise an off-policy value estimate.

    Args:
        objective: ``"dr"`` (doubly robust, default), ``"ips"`` (BanditNet: IPS with the
            reward translated by the mean logged reward) or ``"snips"`` (self-normalised).
        l2: L2 penalty on the weights (per event). A sharp policy needs large weights: 1e-3
            cost the benchmark world 5% of its value at 40k events, 1e-4 about 0.5%.
        max_iter: L-BFGS iterations for :meth:`fit`.
        lr: step size of the online gradient-bandit update.
    """

    n_features: int  # contextual: BanditPolicy.__init__ refuses n_features=None
    theta_: np.ndarray  # learned per-arm state, made by _new_arms
    bias_: np.ndarray

    contextual = True

    def __init__(self, n_arms: int | None = None, *, n_features: int | None = None, objective: str = "dr",
                 l2: float = 1e-4, max_iter: int = 500, lr: float = 0.1, seed: int | None = None):
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        if not (l2 >= 0 and lr > 0 and int(max_iter) >= 1):
            raise ValueError("l2 must be >= 0, lr > 0 and max_iter >= 1")
        self.objective, self.l2, self.max_iter, self.lr = objective, l2, int(max_iter), lr
        super().__init__(n_arms, n_features=n_features, seed=seed)

    def _new_arms(self, n: int) -> dict[str, np.ndarray]:
        return {"theta_": np.zeros((n, self.n_features)), "bias_": np.zeros(n)}

    def _scores(self, x, arms):
        return self.theta_[arms] @ x + self.bias_[arms]

    def _probs(self, x, arms):
        z = self._scores(x, arms)
        w = np.exp(z - z.max())
        return w / w.sum()

    def _choose(self, x, arms):
        p = self._probs(x, arms)
        return int(min(np.searchsorted(np.cumsum(p), self.rng_.random() * p.sum(), side="right"), len(p) - 1))

    def _learn(self, arm: int, reward: float, x: np.ndarray | None) -> None:
        assert x is not None  # contextual: _context gives an array
        # REINFORCE on r * log pi(arm | x) over all arms: d/dz_b = r (1[b = arm] - pi_b)
        arms = np.arange(self.arms_)
        g = -reward * self._probs(x, arms)
        g[arm] += reward
        self.theta_ += self.lr * g[:, None] * x[None, :]
        self.bias_ += self.lr * g

    # ------------------------------------------------------------------ off-policy fit
    def fit(self, logs: Any, *, warm_start: bool = True) -> "OffPolicySoftmax":
        """Maximise the off-policy value estimate (``objective``) on ``logs`` (fixed catalogue by id)."""
        from scipy.optimize import minimize

        if logs.is_slate or logs.candidates is not None:
            raise ValueError("OffPolicySoftmax.fit takes logs over a fixed catalogue (item_ids); logs with "
                             "per-event candidate sets are not supported yet")
        if logs.context.shape[1] != self.n_features:
            raise ValueError(f"the logs have {logs.context.shape[1]} context features; "
                             f"{type(self).__name__} expects {self.n_features}")
        if logs.featuriser is not None:
            from recloop.data.features import Featuriser

            self.set_featuriser(Featuriser.from_dict(logs.featuriser))
        ids = list(range(logs.n_actions)) if logs.item_ids is None else logs.item_ids.tolist()
        arms = self.item_arms(ids)
        X, a, r, p = logs.context, logs.action, logs.reward, logs.propensity
        n, K, d = logs.n, len(ids), self.n_features
        C = self._coefficients(logs)
        snips = self.objective == "snips"

        def loss(flat: np.ndarray) -> tuple[float, np.ndarray]:
            theta, bias = flat[:K * d].reshape(K, d), flat[K * d:]
            Z = X @ theta.T + bias
            Z -= Z.max(axis=1, keepdims=True)
            P = np.exp(Z)
            P /= P.sum(axis=1, keepdims=True)
            if snips:  # ratio of two IPS sums: quotient rule on per-event terms
                w = P[np.arange(n), a] / p
                num, den = float(w @ r), float(w.sum())
                value = num / den
                coef = np.zeros((n, K))
                coef[np.arange(n), a] = (r - value) / p / den * n
                G = P * (coef - (P * coef).sum(axis=1, keepdims=True))
            else:
                g = (P * C).sum(axis=1)
                value = float(g.mean())
                G = P * (C - g[:, None])
            grad_theta = G.T @ X / n - self.l2 * theta
            grad_bias = G.mean(axis=0)
            obj = value - 0.5 * self.l2 * float(np.sum(theta * theta))
            return -obj, -np.concatenate([grad_theta.ravel(), grad_bias])

        start = np.concatenate([self.theta_[arms].ravel(), self.bias_[arms]]) if warm_start else np.zeros(K * (d + 1))
        res = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": self.max_iter})
        self.theta_[arms] = res.x[:K * d].reshape(K, d)
        self.bias_[arms] = res.x[K * d:]
        self.fit_result_ = {"objective": self.objective, "value": float(-res.fun), "iterations": int(res.nit),
                            "converged": bool(res.success)}
        self.t_ += n
        self.fitted_on_ = fingerprint(logs)
        return self

    def _coefficients(self, logs: Any) -> np.ndarray:
        """``c_ia`` with ``V(theta) = mean_i sum_a pi_theta(a | x_i) c_ia`` (DR and translated IPS)."""
        n, K = logs.n, logs.n_actions
        rows = np.arange(n)
        C = np.zeros((n, K))
        if self.objective == "dr":
            from recloop.ope.reward_model import estimate_q

            q = estimate_q(logs.context, logs.action, logs.reward, K, n_folds=2, seed=self.seed or 0)
            C += q
            C[rows, logs.action] += (logs.reward - q[rows, logs.action]) / logs.propensity
        else:
            baseline = float(logs.reward.mean())  # BanditNet's lambda
            C[rows, logs.action] = (logs.reward - baseline) / logs.propensity
        return C
