"""Tiny deterministic worlds with known optimal returns, for learning tests."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class IdentityEnv(gym.Env):
    """Observe a one-hot target among ``n``; reward 1 for naming it. Optimal return = ``length``,
    random return = ``length / n``."""

    def __init__(self, n: int = 2, length: int = 10):
        self.n, self.length = n, length
        self.observation_space = spaces.Box(0.0, 1.0, (n,), np.float32)
        self.action_space = spaces.Discrete(n)

    def _obs(self) -> np.ndarray:
        return np.eye(self.n, dtype=np.float32)[self._target]

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        self._target = int(self.np_random.integers(self.n))
        return self._obs(), {}

    def step(self, action):
        reward = float(int(action) == self._target)
        self._t += 1
        self._target = int(self.np_random.integers(self.n))
        return self._obs(), reward, False, self._t >= self.length, {}


class ContinuousIdentityEnv(gym.Env):
    """Observe ``x`` in [-1, 1]; reward ``-(a - x)^2``. Optimal return = 0; acting 0 scores about
    ``-length / 3``."""

    def __init__(self, length: int = 10):
        self.length = length
        self.observation_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        self._x = self.np_random.uniform(-1, 1, 1).astype(np.float32)
        return self._x.copy(), {}

    def step(self, action):
        reward = -float((np.asarray(action, dtype=np.float32)[0] - self._x[0]) ** 2)
        self._t += 1
        self._x = self.np_random.uniform(-1, 1, 1).astype(np.float32)
        return self._x.copy(), reward, False, self._t >= self.length, {}


class RecallEnv(gym.Env):
    """Observe the last ``window`` tokens (one-hot rows, oldest first); reward 1 for naming the
    oldest. A sequence encoder must carry the first row through the later ones. Optimal return =
    ``length``, random return = ``length / n``."""

    def __init__(self, n: int = 3, window: int = 3, length: int = 10):
        self.n, self.window, self.length = n, window, length
        self.observation_space = spaces.Box(0.0, 1.0, (window, n), np.float32)
        self.action_space = spaces.Discrete(n)

    def _obs(self) -> np.ndarray:
        return np.eye(self.n, dtype=np.float32)[self._tokens]

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        self._tokens = self.np_random.integers(self.n, size=self.window)
        return self._obs(), {}

    def step(self, action):
        reward = float(int(action) == self._tokens[0])
        self._t += 1
        self._tokens = np.append(self._tokens[1:], self.np_random.integers(self.n))
        return self._obs(), reward, False, self._t >= self.length, {}


def boredom_rerank_world(*, n_items: int = 40, n_genres: int = 4, n_candidates: int = 5, seed: int = 0):
    """A re-ranking world whose answer is known: every film is rated 4.5 (the simulator's tastes
    are overwritten), so only boredom matters. Genre fatigue is strong (a film of the genre of
    the last three shown is clicked with probability 0.02, a fresh genre with 0.88), and the
    generator ranks genre-0 films first, so its shortlist is mostly one genre: showing its top
    film (or a random candidate) repeats that genre and the user leaves; picking the candidate
    of a genre not shown lately keeps them. Returns (env, generator scores)."""
    from recloop.data.movielens import MovieLens
    from recloop.data.splits import sequences_split
    from recloop.envs.movielens import MovieLensSimulator
    from recloop.envs.rerank import CandidateRerankEnv

    rng = np.random.default_rng(seed)
    n_users = 10
    users = np.repeat(np.arange(n_users), 4)
    items = np.concatenate([rng.choice(n_items, 4, replace=False) for _ in range(n_users)])
    ratings = rng.integers(1, 6, len(users)).astype(np.float32)
    times = np.tile(np.arange(4), n_users)
    genre = np.where(np.arange(n_items) % 4 == 0, 1 + (np.arange(n_items) // 4) % (n_genres - 1), 0)
    genres = np.eye(n_genres, dtype=np.int8)[genre]
    data = MovieLens(name="boredom", users=users, items=items, ratings=ratings, timestamps=times,
                     user_ids=np.arange(1, n_users + 1), item_ids=np.arange(1, n_items + 1),
                     titles=tuple(f"m{i}" for i in range(n_items)), years=np.zeros(n_items, np.int64),
                     genres=genres, genre_names=tuple("abcdefgh"[:n_genres]), user_features={})
    split = sequences_split(users, items, ratings, times, n_users=n_users, n_items=n_items)
    sim = MovieLensSimulator(data, split, frame=2, dim=2, genre_boredom=3.0, memory=3, patience=3,
                             episode_length=15, noise=0.0)
    sim.mu_, sim.bu_[:], sim.bi_[:], sim.p_[:], sim.q_[:] = 4.5, 0.0, 0.0, 0.0, 0.0
    scores = (n_items - np.arange(n_items)).astype(np.float64)  # the generator's order: by index
    env = CandidateRerankEnv(sim, lambda user, history: scores, n_candidates=n_candidates, exclude_rated=False)
    return env, scores


def play_rerank(env, choose, episodes: int = 40, seed: int = 1000) -> float:
    """Mean return of ``choose(obs) -> candidate index`` over fixed episode seeds."""
    total = 0.0
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        done = False
        while not done:
            obs, r, term, trunc, _ = env.step(int(choose(obs)))
            total += r
            done = term or trunc
    return total / episodes

