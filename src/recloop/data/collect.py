"""Turn any bandit simulator + behaviour policy into logged feedback with exact ground truth.

``collect_logs(env, policy, n, seed=...)`` runs a Gymnasium bandit for ``n``
decisions. At each step the policy's ``probabilities(obs)`` are the logging
distribution: the action is drawn from it here (so the logged propensity is
exactly the probability of what was chosen, whatever the policy's own
``act`` does), and when the environment knows its truth
(``expected_rewards(context)``, DESIGN.md) the mean reward of every action in
that context is recorded too, so OPE estimates can be checked exactly.

Example:
    >>> import numpy as np, gymnasium as gym
    >>> class Coin(gym.Env):
    ...     observation_space = gym.spaces.Box(0, 1, (1,)); action_space = gym.spaces.Discrete(2)
    ...     def reset(self, *, seed=None, options=None):
    ...         super().reset(seed=seed); return np.zeros(1, np.float32), {}
    ...     def expected_rewards(self, context=None): return np.array([0.2, 0.8])
    ...     def step(self, a):
    ...         r = float(self.np_random.random() < self.expected_rewards()[a])
    ...         return np.zeros(1, np.float32), r, False, False, {}
    >>> class Uniform:
    ...     def probabilities(self, obs=None): return np.array([0.5, 0.5])
    >>> logs = collect_logs(Coin(), Uniform(), 100, seed=0)
    >>> logs.n, float(logs.propensity[0]), logs.expected_rewards.shape
    (100, 0.5, (100, 2))
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from recloop.core.seeding import as_generator
from recloop.data.logs import LoggedFeedback


def _truth(env: Any, obs: Any) -> np.ndarray | None:
    fn = getattr(env, "expected_rewards", None) or getattr(getattr(env, "unwrapped", None), "expected_rewards", None)
    if fn is None:
        return None
    try:
        out = fn(obs)
    except TypeError:  # context-free bandits: expected_rewards()
        out = fn()
    return np.asarray(out, dtype=np.float64).reshape(-1)


def _context(obs: Any) -> np.ndarray:
    x = np.asarray(obs, dtype=np.float64) if obs is not None and not isinstance(obs, dict) else np.zeros(0)
    return x.reshape(-1)


def collect_logs(env: Any, policy: Any, n: int, seed: Any = None, *, update: bool = False,
                 policy_version: str | None = None, epsilon: float = 0.0) -> LoggedFeedback:
    """Log ``n`` decisions of ``policy`` on ``env`` (a Gymnasium env with a Discrete action space).

    ``update=True`` lets the policy learn online from each reward (as a served
    policy would); the logged propensity is always the one in force when the
    decision was made, so the logs stay valid for OPE.

    ``epsilon`` is an exploration floor: the logging distribution is
    ``(1 - epsilon) * p + epsilon / K``, so every action keeps probability at least
    ``epsilon / K`` and the logs can evaluate any other policy (a deterministic
    logging policy with ``epsilon = 0`` logs propensity 1 and supports nothing else).
    """
    if not 0.0 <= float(epsilon) <= 1.0:
        raise ValueError(f"epsilon must be in [0, 1], got {epsilon!r}")
    if int(n) < 1:
        raise ValueError(f"n must be a positive number of decisions, got {n!r}")
    if not hasattr(policy, "probabilities"):
        raise TypeError(f"{type(policy).__name__} has no probabilities(obs): it cannot log propensities")
    n_actions = int(getattr(env.action_space, "n", 0))
    if n_actions < 1:
        raise TypeError(f"collect_logs needs a Discrete action space, got {env.action_space}")
    rng = as_generator(seed)
    obs, _ = env.reset(seed=int(rng.integers(2**31)))
    contexts: list[np.ndarray] = []
    actions, props, rewards, truths = [], [], [], []
    for _ in range(int(n)):
        p = np.asarray(policy.probabilities(obs), dtype=np.float64).reshape(-1)
        if p.shape != (n_actions,) or not np.isclose(p.sum(), 1.0) or (p < 0).any():
            raise ValueError(f"policy.probabilities returned {p!r}; expected {n_actions} probabilities summing to 1")
        if epsilon:
            p = (1.0 - epsilon) * p + epsilon / n_actions
        a = int(rng.choice(n_actions, p=p))
        contexts.append(_context(obs))
        truths.append(_truth(env, obs))
        next_obs, r, terminated, truncated, _ = env.step(a)
        actions.append(a)
        props.append(p[a])
        rewards.append(float(r))
        if update:
            policy.update(a, float(r), obs)
        obs = env.reset()[0] if terminated or truncated else next_obs
    has_truth = all(t is not None and t.shape == (n_actions,) for t in truths)
    version = policy_version or getattr(policy, "registry_name", None) or type(policy).__name__
    return LoggedFeedback.from_arrays(
        action=np.array(actions), reward=np.array(rewards), propensity=np.array(props), n_actions=n_actions,
        context=np.vstack(contexts),
        timestamp=np.arange(int(n), dtype=np.float64),  # simulated time: one decision per second
        policy_version=str(version),
        expected_rewards=np.vstack(cast("list[np.ndarray]", truths)) if has_truth else None,  # has_truth: no None
    )
