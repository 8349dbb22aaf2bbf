"""Policy iteration (Howard, 1960): evaluate the policy exactly, improve it greedily, repeat.

It stops after finitely many improvements (at most ``A**S``, in practice a
handful), at a policy whose values are optimal up to numerical precision.
Evaluation solves the linear system ``(I - gamma P_pi) V = R_pi``. Policy
iteration needs ``gamma < 1`` (with ``gamma = 1`` its first policies may never
terminate, and their values do not exist); use value iteration there.

Examples
--------
>>> import numpy as np
>>> from recloop.planning import policy_iteration, value_iteration
>>> rng = np.random.default_rng(0)
>>> P = rng.dirichlet(np.ones(4), size=(4, 2)); R = rng.normal(size=(4, 2))
>>> pi, vi = policy_iteration(P, R, gamma=0.9), value_iteration(P, R, gamma=0.9)
>>> bool(np.allclose(pi.values, vi.values, atol=1e-6)), bool((pi.policy == vi.policy).all())
(True, True)
"""

from __future__ import annotations

import numpy as np

from recloop.planning.value_iteration import PlanningResult, check_model, q_values


def evaluate_policy(P: np.ndarray, R: np.ndarray, policy: np.ndarray, *, gamma: float) -> np.ndarray:
    """Exact values of a policy: deterministic ``(S,)`` actions or stochastic ``(S, A)`` probabilities.

    With ``gamma = 1`` absorbing zero-reward states are pinned to 0 and the policy
    must reach one from everywhere (a *proper* policy), or a ValueError says so.
    """
    P, R = check_model(P, R, gamma)
    S = P.shape[0]
    pol = np.asarray(policy)
    if pol.shape == (S,):
        P_pi, R_pi = P[np.arange(S), pol], R[np.arange(S), pol]
    elif pol.shape == R.shape:
        P_pi, R_pi = np.einsum("sa,sat->st", pol, P), (pol * R).sum(axis=1)
    else:
        raise ValueError(f"policy must have shape ({S},) or {R.shape}, got {pol.shape}")
    if gamma < 1.0:
        return np.linalg.solve(np.eye(S) - gamma * P_pi, R_pi)
    live = ~((np.diag(P_pi) >= 1.0 - 1e-12) & (R_pi == 0.0))
    V = np.zeros(S)
    try:
        V[live] = np.linalg.solve(np.eye(live.sum()) - P_pi[np.ix_(live, live)], R_pi[live])
    except np.linalg.LinAlgError:
        raise ValueError("with gamma = 1 the policy must reach an absorbing zero-reward state from every "
                         "state; this one loops forever somewhere (its values are undefined)") from None
    return V


def policy_iteration(P: np.ndarray, R: np.ndarray, *, gamma: float = 0.99, tol: float = 1e-10,
                     max_iter: int = 1_000) -> PlanningResult:
    """Solve the MDP ``(P, R, gamma)`` by policy iteration (``gamma < 1``)."""
    P, R = check_model(P, R, gamma)
    if gamma >= 1.0:
        raise ValueError("policy iteration needs gamma < 1 (an early policy may never terminate); "
                         "use value_iteration for undiscounted episodic tasks")
    S = P.shape[0]
    policy = np.zeros(S, dtype=np.int64)
    it = 0
    stable = False
    for it in range(1, int(max_iter) + 1):  # noqa: B007 - the count is reported after the loop
        V = evaluate_policy(P, R, policy, gamma=gamma)
        q = q_values(P, R, V, gamma)
        # Keep the current action unless another is better by more than tol: without
        # this, ties in floating point make the policy cycle between equals forever.
        current = q[np.arange(S), policy]
        better = q.max(axis=1) > current + tol
        stable = not better.any()
        if stable:
            break
        policy = np.where(better, q.argmax(axis=1), policy)
    V = evaluate_policy(P, R, policy, gamma=gamma)
    q = q_values(P, R, V, gamma)
    residual = float(np.abs(q.max(axis=1) - V).max())
    return PlanningResult(V, q, q.argmax(axis=1), it, residual, stable)
