"""Value iteration (Bellman, 1957): repeat the Bellman optimality backup until it stops moving.

``V <- max_a [R(s, a) + gamma * sum_s' P(s'|s, a) V(s')]``. The *Bellman
residual* ``max_s |(T V)(s) - V(s)|`` bounds the distance to the optimum:
``||V - V*|| <= residual / (1 - gamma)`` for gamma < 1 (Williams & Baird, 1993),
where ``residual`` is taken at the returned ``V`` (one more backup, ``T V``, would be
within ``gamma * residual / (1 - gamma)``), so the result reports it.

Examples
--------
>>> import numpy as np
>>> from recloop.planning import value_iteration
>>> P = np.zeros((2, 1, 2)); P[0, 0, 1] = 1; P[1, 0, 1] = 1     # 0 -> 1, 1 absorbing
>>> R = np.array([[1.0], [0.0]])
>>> value_iteration(P, R, gamma=0.9).values.round(6).tolist()
[1.0, 0.0]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class PlanningResult:
    """Optimal values, action values and a greedy policy of a finite MDP."""

    values: np.ndarray  # (S,)
    q: np.ndarray  # (S, A)
    policy: np.ndarray  # (S,) greedy action, lowest index among ties
    iterations: int
    bellman_residual: float  # max |T V - V| at the returned V
    converged: bool


def check_model(P: np.ndarray, R: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Validate a tabular model: ``P`` (S, A, S) rows summing to 1, ``R`` (S, A) finite."""
    P = np.asarray(P, dtype=np.float64)
    R = np.asarray(R, dtype=np.float64)
    if P.ndim != 3 or P.shape[0] != P.shape[2]:
        raise ValueError(f"P must have shape (S, A, S), got {P.shape}")
    if R.shape != P.shape[:2]:
        raise ValueError(f"R must have shape (S, A) = {P.shape[:2]}, got {R.shape}")
    if not (np.isfinite(P).all() and np.isfinite(R).all()):
        raise ValueError("P and R must be finite")
    if (P < 0).any() or not np.allclose(P.sum(axis=2), 1.0, atol=1e-8):
        raise ValueError("each P[s, a] must be a probability distribution over next states (non-negative, sums to 1)")
    if not 0.0 <= float(gamma) <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma!r}")
    return P, R


def q_values(P: np.ndarray, R: np.ndarray, V: np.ndarray, gamma: float) -> np.ndarray:
    """One-step lookahead ``Q(s, a) = R(s, a) + gamma * sum_s' P(s'|s, a) V(s')``."""
    return R + gamma * (P @ V)


def value_iteration(P: np.ndarray, R: np.ndarray, *, gamma: float = 0.99, tol: float = 1e-8,
                    max_iter: int = 100_000) -> PlanningResult:
    """Solve the MDP ``(P, R, gamma)``; stops when the Bellman residual is below ``tol``.

    With ``gamma = 1`` it converges only if every policy reaches an absorbing
    zero-reward state (a proper episodic task); ``converged`` says if it did.
    """
    P, R = check_model(P, R, gamma)
    V = np.zeros(P.shape[0])
    residual = np.inf
    it = 0
    for it in range(1, int(max_iter) + 1):  # noqa: B007 - the count is reported after the loop
        V_new = q_values(P, R, V, gamma).max(axis=1)
        residual = float(np.abs(V_new - V).max())
        V = V_new
        if residual < tol:
            break
    q = q_values(P, R, V, gamma)
    final_residual = float(np.abs(q.max(axis=1) - V).max())
    return PlanningResult(V, q, q.argmax(axis=1), it, final_residual, bool(final_residual < tol))
