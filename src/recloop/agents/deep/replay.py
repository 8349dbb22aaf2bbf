"""Experience replay: a numpy ring buffer with n-step returns and optional prioritisation.

Transitions are stored in lanes, one per environment copy, so that ``i+1`` in a
lane is the next step of the same episode. n-step returns are therefore
computed when a batch is sampled, by looking ahead along the lane until the
episode ends, ``n`` steps pass, or the data runs out (then fewer steps are
used and bootstrapped with the matching ``gamma**m``).

Prioritised replay (Schaul et al., 2016) samples transition ``i`` with
probability ``p_i**alpha / sum_j p_j**alpha`` from a sum tree and corrects the
bias with importance weights ``(N * P(i))**-beta / max_j w_j``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recloop.core.seeding import as_generator


@dataclass(frozen=True, slots=True)
class ReplayBatch:
    obs: np.ndarray
    actions: np.ndarray
    returns: np.ndarray       # sum_{k<m} gamma^k r_{t+k}
    next_obs: np.ndarray      # observation m steps later (the final one if the episode ended)
    terminated: np.ndarray    # float: 1.0 where the episode terminated within the m steps
    discounts: np.ndarray     # gamma**m
    weights: np.ndarray       # importance weights (all ones without prioritisation)
    indices: np.ndarray       # flat indices, for update_priorities


class SumTree:
    """Binary tree of priorities in one array; sampling and updates are vectorised per level."""

    def __init__(self, size: int):
        self.size = size
        self.leaves = 1
        while self.leaves < size:
            self.leaves *= 2
        self.tree = np.zeros(2 * self.leaves)

    @property
    def total(self) -> float:
        return float(self.tree[1])

    def update(self, idx: np.ndarray, values: np.ndarray) -> None:
        idx, last = np.unique(np.asarray(idx)[::-1], return_index=True)  # last write wins
        node = idx + self.leaves
        self.tree[node] = np.asarray(values, dtype=float)[::-1][last]
        node //= 2
        while node[0] >= 1:  # duplicates recompute the same sum: harmless, cheaper than np.unique
            self.tree[node] = self.tree[2 * node] + self.tree[2 * node + 1]
            node //= 2

    def find(self, mass: np.ndarray) -> np.ndarray:
        node = np.ones(len(mass), dtype=np.int64)
        mass = mass.astype(float).copy()
        while node[0] < self.leaves:
            left = 2 * node
            go_right = mass >= self.tree[left]
            mass -= np.where(go_right, self.tree[left], 0.0)
            node = left + go_right
        return np.minimum(node - self.leaves, self.size - 1)

    def get(self, idx: np.ndarray) -> np.ndarray:
        return self.tree[np.asarray(idx) + self.leaves]


class ReplayBuffer:
    """Ring buffer of ``capacity`` steps for each of ``n_envs`` lanes."""

    def __init__(self, capacity: int, obs_shape: tuple, obs_dtype: np.dtype, action_shape: tuple = (),
                 action_dtype: np.dtype = np.int64, *, n_envs: int = 1, n_step: int = 1, gamma: float = 0.99,
                 prioritized: bool = False, alpha: float = 0.6, beta: float = 0.4, seed: int | None = None):
        if capacity < 1 or n_envs < 1 or n_step < 1:
            raise ValueError("capacity, n_envs and n_step must all be >= 1")
        self.capacity, self.n_envs, self.n_step, self.gamma = int(capacity), int(n_envs), int(n_step), float(gamma)
        shape = (self.capacity, self.n_envs)
        self.obs = np.zeros(shape + tuple(obs_shape), dtype=obs_dtype)
        self.next_obs = np.zeros_like(self.obs)
        self.actions = np.zeros(shape + tuple(action_shape), dtype=action_dtype)
        self.rewards = np.zeros(shape, dtype=np.float32)
        self.terminated = np.zeros(shape, dtype=bool)
        self.ended = np.zeros(shape, dtype=bool)  # terminated or truncated: the n-step window stops here
        self.pos = 0
        self.full = False
        self.rng = as_generator(seed)
        self.prioritized, self.alpha, self.beta = prioritized, float(alpha), float(beta)
        if prioritized:
            self.tree = SumTree(self.capacity * self.n_envs)
            self.max_priority = 1.0

    def __len__(self) -> int:
        return (self.capacity if self.full else self.pos) * self.n_envs

    def add(self, obs, actions, rewards, next_obs, terminated, truncated) -> None:
        """Store one step of every lane (arrays with leading axis ``n_envs``)."""
        p = self.pos
        self.obs[p] = obs
        self.actions[p] = actions
        self.rewards[p] = rewards
        self.next_obs[p] = next_obs
        self.terminated[p] = terminated
        self.ended[p] = np.logical_or(terminated, truncated)
        if self.prioritized:
            flat = p * self.n_envs + np.arange(self.n_envs)
            self.tree.update(flat, np.full(self.n_envs, self.max_priority ** self.alpha))
        self.pos = (p + 1) % self.capacity
        self.full = self.full or self.pos == 0

    def sample(self, batch_size: int) -> ReplayBatch:
        if len(self) == 0:
            raise RuntimeError("cannot sample from an empty replay buffer")
        if self.prioritized:
            mass = (self.rng.random(batch_size) + np.arange(batch_size)) * (self.tree.total / batch_size)
            flat = self.tree.find(np.minimum(mass, self.tree.total * (1 - 1e-9)))
            probs = self.tree.get(flat) / self.tree.total
            weights = (len(self) * probs) ** -self.beta
            weights = (weights / weights.max()).astype(np.float32)
        else:
            flat = self.rng.integers(0, len(self), size=batch_size)
            weights = np.ones(batch_size, dtype=np.float32)
        return self.batch_at(flat, weights)

    def batch_at(self, flat: np.ndarray, weights: np.ndarray | None = None) -> ReplayBatch:
        """The transitions at flat indices ``step * n_envs + lane`` (with their n-step returns)."""
        flat = np.asarray(flat, dtype=np.int64)
        if weights is None:
            weights = np.ones(len(flat), dtype=np.float32)
        t, lane = np.divmod(flat, self.n_envs)
        returns, last, term, disc = self._n_step(t, lane)
        return ReplayBatch(self.obs[t, lane], self.actions[t, lane], returns, self.next_obs[last, lane],
                           term, disc, weights, flat)

    def _n_step(self, t: np.ndarray, lane: np.ndarray):
        """Look ahead up to ``n_step`` steps along each lane from ``t``."""
        returns = self.rewards[t, lane].astype(np.float32)
        last = t.copy()
        m = np.ones(len(t), dtype=np.int64)
        open_ = ~self.ended[t, lane]
        newest = (self.pos - 1) % self.capacity
        for k in range(1, self.n_step):
            open_ &= last != newest  # no later data written yet
            nxt = (t + k) % self.capacity
            returns += np.where(open_, self.gamma ** k * self.rewards[nxt, lane], 0.0).astype(np.float32)
            last = np.where(open_, nxt, last)
            m += open_
            open_ &= ~self.ended[nxt, lane]
        term = self.terminated[last, lane].astype(np.float32)
        return returns, last, term, (self.gamma ** m).astype(np.float32)

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray, eps: float = 1e-6) -> None:
        if not self.prioritized:
            return
        p = np.abs(td_errors) + eps
        self.max_priority = max(self.max_priority, float(p.max()))
        self.tree.update(indices, p ** self.alpha)
