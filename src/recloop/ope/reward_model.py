"""Reward models for the direct method and doubly robust estimators, in numpy/scipy.

``estimate_q(context, actions, rewards, n_actions, model=...)`` fits a model of
E[r | x, a] on the logs and predicts it for every (event, action) pair: the
``q_hat`` ``(n, K)`` matrix that DM/DR/Switch-DR/DRos take. Any object with
``fit(X, y)`` and ``predict(X)`` (or ``predict_proba``) works, scikit-learn's
included; the default is ridge regression, or L2 logistic regression when the
rewards are 0/1, fitted per action on the context (one linear model per action).

Cross-fitting (``n_folds > 1``) predicts each event with a model that did not
see it, which removes the own-observation bias DR otherwise inherits
(Chernozhukov et al. 2018).

Example:
    >>> import numpy as np
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = 2 * X[:, 0] + 1
    >>> np.round(RidgeRegression(alpha=1e-9).fit(X, y).predict(np.array([[4.0]])), 3)
    array([9.])
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from scipy import optimize, special

from recloop.core.seeding import as_generator


class RidgeRegression:
    """Least squares with an L2 penalty ``alpha`` on the weights (not the intercept)."""

    def __init__(self, *, alpha: float = 1.0, fit_intercept: bool = True):
        self.alpha = alpha
        self.fit_intercept = fit_intercept

    def fit(self, X: Any, y: Any) -> "RidgeRegression":
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        Z = np.hstack([X, np.ones((len(X), 1))]) if self.fit_intercept else X
        penalty = np.full(Z.shape[1], float(self.alpha))
        if self.fit_intercept:
            penalty[-1] = 0.0
        # Normal equations: d is small here (features x actions), so this beats an SVD.
        A = Z.T @ Z + np.diag(penalty)
        self.coef_ = np.linalg.lstsq(A, Z.T @ y, rcond=None)[0]
        return self

    def predict(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        Z = np.hstack([X, np.ones((len(X), 1))]) if self.fit_intercept else X
        return Z @ self.coef_


class LogisticRegression:
    """Binary logistic regression with an L2 penalty ``alpha`` on the weights (Newton / IRLS)."""

    def __init__(self, *, alpha: float = 1.0, max_iter: int = 100):
        self.alpha = alpha
        self.max_iter = max_iter

    def fit(self, X: Any, y: Any) -> "LogisticRegression":
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if not np.isin(y, (0.0, 1.0)).all():
            raise ValueError("LogisticRegression needs 0/1 rewards; use RidgeRegression for other rewards")
        Z = np.hstack([X, np.ones((len(X), 1))])
        penalty = np.full(Z.shape[1], float(self.alpha))
        penalty[-1] = 0.0

        def objective(beta: np.ndarray) -> float:
            s = Z @ beta  # log(1 + e^s) - y s, computed stably
            return float(np.sum(np.logaddexp(0.0, s) - y * s) + 0.5 * np.sum(penalty * beta**2))

        beta = np.zeros(Z.shape[1])
        if Z.shape[1] > 500:  # Hessians get expensive: quasi-Newton instead
            def loss(b: np.ndarray) -> tuple[float, np.ndarray]:
                return objective(b), Z.T @ (special.expit(Z @ b) - y) + penalty * b

            self.coef_ = optimize.minimize(loss, beta, jac=True, method="L-BFGS-B",
                                           options={"maxiter": self.max_iter}).x
            return self
        # Newton's method (IRLS) with step halving: a handful of iterations on
        # these small per-action designs, where L-BFGS needs hundreds.
        current = objective(beta)
        for _ in range(self.max_iter):
            mu = special.expit(Z @ beta)
            grad = Z.T @ (mu - y) + penalty * beta
            hess = (Z * (mu * (1 - mu))[:, None]).T @ Z + np.diag(penalty + 1e-10)
            step = np.linalg.solve(hess, grad)
            t = 1.0
            while t > 1e-6:
                cand = beta - t * step
                value = objective(cand)
                if value <= current:
                    break
                t *= 0.5
            beta, improved = cand, current - value
            current = value
            if improved < 1e-10 * (1 + abs(current)):
                break
        self.coef_ = beta
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        p = special.expit(np.hstack([X, np.ones((len(X), 1))]) @ self.coef_)
        return np.column_stack([1 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.float64)


def action_features(context: np.ndarray, actions: np.ndarray, n_actions: int) -> np.ndarray:
    """Per-action linear design: row i holds ``[x_i, 1]`` in the block of action ``a_i``."""
    n, d = context.shape
    base = np.hstack([context, np.ones((n, 1))])
    out = np.zeros((n, n_actions * (d + 1)))
    cols = actions[:, None] * (d + 1) + np.arange(d + 1)[None, :]
    out[np.arange(n)[:, None], cols] = base
    return out


def _predict(model: Any, X: np.ndarray) -> np.ndarray:
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(X))[:, 1]
    return np.asarray(model.predict(X), dtype=np.float64)


def _training_data(context: Any, actions: Any, rewards: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X = np.asarray(context, dtype=np.float64)
    a = np.asarray(actions, dtype=np.int64)
    r = np.asarray(rewards, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if len(X) != len(r) or len(a) != len(r):
        raise ValueError(f"mismatched lengths: context {X.shape}, actions {a.shape}, rewards {r.shape}")
    if len(r) == 0:
        raise ValueError("cannot fit a reward model on empty logs")
    return X, a, r


def default_model(rewards: np.ndarray) -> Any:
    binary = np.isin(rewards, (0.0, 1.0)).all()
    return LogisticRegression(alpha=1.0) if binary else RidgeRegression(alpha=1.0)


def estimate_q(context: Any, actions: Any, rewards: Any, n_actions: int, *, model: Any = None,
               n_folds: int = 1, seed: Any = 0, features: Any = None) -> np.ndarray:
    """Fit E[r | x, a] on the logs and return predictions ``(n, n_actions)`` for every action.

    ``model``: any fit/predict object (fresh copies are fitted via
    ``copy.deepcopy``); default ridge, or logistic for 0/1 rewards.
    ``features=None`` fits one model per action on ``x`` (actions never
    logged get the overall mean reward); ``features(context, actions,
    n_actions)`` instead builds one joint design matrix, e.g.
    :func:`action_features`.
    """
    X, a, r = _training_data(context, actions, rewards)
    n = len(r)
    if int(n_folds) < 1:
        raise ValueError(f"n_folds must be >= 1, got {n_folds}")
    template = default_model(r) if model is None else model
    folds = np.zeros(n, dtype=np.int64) if n_folds == 1 else as_generator(seed).permutation(n) % int(n_folds)
    q = np.empty((n, n_actions))
    for k in range(int(n_folds)):
        test = folds == k
        train = ~test if n_folds > 1 else test
        rows = np.flatnonzero(test)
        if features is not None:
            fitted = copy.deepcopy(template).fit(features(X[train], a[train], n_actions), r[train])
            for act in range(n_actions):
                q[rows, act] = _predict(fitted, features(X[rows], np.full(len(rows), act), n_actions))
            continue
        Xt, at, rt = X[train], a[train], r[train]
        fallback = float(rt.mean()) if len(rt) else float(r.mean())
        for act in range(n_actions):
            mine = at == act
            if mine.sum() < 2:
                q[rows, act] = fallback
                continue
            fitted = copy.deepcopy(template).fit(Xt[mine], rt[mine])
            q[rows, act] = _predict(fitted, X[rows])
    return q


def estimate_q_by_item(context: Any, actions: Any, rewards: Any, candidates: np.ndarray, candidate_mask: np.ndarray,
                       *, model: Any = None) -> np.ndarray:
    """``q_hat`` ``(n, K)`` for logs whose candidate sets vary per event.

    There an action index means a different item in each event, so the model
    is fitted per *item id* (on the events that showed it) and predicted at
    every event where the item was a candidate; padding gets 0.
    """
    X, a, r = _training_data(context, actions, rewards)
    n = len(r)
    if candidates.shape[0] != n or candidates.shape != candidate_mask.shape:
        raise ValueError(f"candidates {candidates.shape} and mask {candidate_mask.shape} must be ({n}, K)")
    template = default_model(r) if model is None else model
    items, codes = np.unique(candidates[candidate_mask], return_inverse=True)
    item_index = np.full(candidates.shape, -1, dtype=np.int64)
    item_index[candidate_mask] = codes
    chosen = item_index[np.arange(n), a]
    q = np.zeros(candidates.shape)
    fallback = float(r.mean())
    for j in range(len(items)):
        where = item_index == j
        mine = chosen == j
        if mine.sum() < 2:
            q[where] = fallback
            continue
        fitted = copy.deepcopy(template).fit(X[mine], r[mine])
        q[where] = _predict(fitted, X[np.nonzero(where)[0]])
    return q
