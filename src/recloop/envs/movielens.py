"""MovieLens as environments: replay of logged users (frame or sequence state) and a fitted user simulator.

``FrameEnv`` and ``SeqEnv`` replay one training user per episode: the state follows that user's
logged history, the agent recommends one item per step, and the reward is the (rescaled)
rating the user gave that item *later* in the log (0 if they never rated it then). This is the
offline MovieLens setting of RecNN (frame of the last N embeddings + ratings) and of sequential
recommenders (the whole history through a recurrent encoder). The split's validation and test
items are never shown, so evaluation stays clean.

``MovieLensSimulator`` is an online user model fitted to the ratings: matrix-factorisation
predicted ratings drive click probability and the rating given; boredom from repeated genres
and items lowers both, and a user leaves after ``patience`` ignored recommendations, so a
policy's choices have long-term effects. It exposes ``expected_rewards()`` (the truth) for
evaluation.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from recloop.core.registry import register
from recloop.data.movielens import MovieLens
from recloop.data.splits import SequentialSplit
from recloop.core.seeding import as_generator


def _rescale(r: np.ndarray | float) -> np.ndarray | float:
    """Ratings 1..5 -> [-1, 1]: a disliked film is a cost, not just a missed reward."""
    return (np.asarray(r, dtype=np.float32) - 3.0) / 2.0


def _checked_action(env: gym.Env, action: Any) -> int:
    if env._user < 0:
        raise RuntimeError("call reset() before step()")
    item = int(action)
    if not env.action_space.contains(item):
        raise ValueError(f"action {action!r} is not an item index in 0..{env.action_space.n - 1}")
    return item


class _LoggedUserEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, split: SequentialSplit, *, warmup: int = 5, max_steps: int | None = 100):
        self.split = split
        self.warmup, self.max_steps = warmup, max_steps
        self.users = np.array([u for u in range(split.n_users) if len(split.train_sequence(u)) > warmup + 1])
        if self.users.size == 0:
            raise ValueError(f"no user has more than {warmup + 1} training interactions")
        self.action_space = spaces.Discrete(split.n_items)
        self._user, self._t, self._steps = -1, 0, 0

    def _observe(self) -> Any:
        raise NotImplementedError

    def _info(self) -> dict[str, Any]:
        seq = self.split.train_sequence(self._user)
        return {"user": int(self._user), "history": seq[:self._t].copy(),
                "logged_item": int(seq[self._t]) if self._t < len(seq) else -1}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        user = (options or {}).get("user")
        self._user = int(self.np_random.choice(self.users)) if user is None else int(user)
        if not 0 <= self._user < self.split.n_users:
            raise KeyError(f"unknown user index {self._user}")
        self._t, self._steps = min(self.warmup, len(self.split.train_sequence(self._user)) - 1), 0
        return self._observe(), self._info()

    def step(self, action):
        item = _checked_action(self, action)
        seq, rat = self.split.train_sequence(self._user), self.split.train_ratings(self._user)
        future = np.flatnonzero(seq[self._t:] == item)
        reward = float(_rescale(rat[self._t + future[0]])) if future.size else 0.0
        self._t += 1
        self._steps += 1
        terminated = self._t >= len(seq)
        truncated = self.max_steps is not None and self._steps >= self.max_steps and not terminated
        self._t = min(self._t, len(seq) - 1) if terminated else self._t
        return self._observe(), reward, terminated, truncated, self._info()


class FrameEnv(_LoggedUserEnv):
    """State: the last ``frame`` logged items' embeddings, each with its rescaled rating appended."""

    def __init__(self, split: SequentialSplit, item_embeddings: np.ndarray, *, frame: int = 10,
                 max_steps: int | None = 100):
        emb = np.asarray(item_embeddings, dtype=np.float32)
        if emb.ndim != 2 or emb.shape[0] != split.n_items:
            raise ValueError(f"item_embeddings must be (n_items={split.n_items}, dim), got {emb.shape}")
        super().__init__(split, warmup=frame, max_steps=max_steps)
        self.emb, self.frame = emb, frame
        bound = float(np.abs(emb).max()) + 1.0
        self.observation_space = spaces.Box(-bound, bound, (frame, emb.shape[1] + 1), np.float32)

    def _observe(self) -> np.ndarray:
        seq, rat = self.split.train_sequence(self._user), self.split.train_ratings(self._user)
        lo = max(0, self._t - self.frame)
        obs = np.zeros((self.frame, self.emb.shape[1] + 1), np.float32)
        n = self._t - lo
        if n:
            obs[-n:, :-1] = self.emb[seq[lo:self._t]]
            obs[-n:, -1] = _rescale(rat[lo:self._t])
        return obs


class SeqEnv(_LoggedUserEnv):
    """State: the last ``max_len`` logged items as tokens (item + 1, 0 = padding) and their ratings."""

    def __init__(self, split: SequentialSplit, *, max_len: int = 50, warmup: int = 5, max_steps: int | None = 100):
        super().__init__(split, warmup=warmup, max_steps=max_steps)
        self.max_len = max_len
        self.observation_space = spaces.Dict({
            "items": spaces.Box(0, split.n_items, (max_len,), np.int64),
            "ratings": spaces.Box(-1.0, 1.0, (max_len,), np.float32),
        })

    def _observe(self) -> dict[str, np.ndarray]:
        seq, rat = self.split.train_sequence(self._user), self.split.train_ratings(self._user)
        lo = max(0, self._t - self.max_len)
        items = np.zeros(self.max_len, np.int64)
        ratings = np.zeros(self.max_len, np.float32)
        n = self._t - lo
        if n:
            items[-n:] = seq[lo:self._t] + 1
            ratings[-n:] = _rescale(rat[lo:self._t])
        return {"items": items, "ratings": ratings}


def fit_rating_mf(users: np.ndarray, items: np.ndarray, ratings: np.ndarray, n_users: int, n_items: int, *,
                  dim: int = 16, reg: float = 5.0, iters: int = 10, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Biased MF of explicit ratings by alternating least squares: r ~ mu + b_u + b_i + p_u . q_i."""
    rng = as_generator(seed)
    mu = float(ratings.mean())
    p = rng.normal(0, 0.1, (n_users, dim))
    q = rng.normal(0, 0.1, (n_items, dim))
    bu, bi = np.zeros(n_users), np.zeros(n_items)
    by_user = [np.flatnonzero(users == u) for u in range(n_users)]
    by_item = [np.flatnonzero(items == i) for i in range(n_items)]
    eye = reg * np.eye(dim + 1)
    for _ in range(iters):
        for u, idx in enumerate(by_user):  # solve [p_u, b_u] given items
            if idx.size:
                x = np.hstack([q[items[idx]], np.ones((idx.size, 1))])
                sol = np.linalg.solve(x.T @ x + eye, x.T @ (ratings[idx] - mu - bi[items[idx]]))
                p[u], bu[u] = sol[:-1], sol[-1]
        for i, idx in enumerate(by_item):
            if idx.size:
                x = np.hstack([p[users[idx]], np.ones((idx.size, 1))])
                sol = np.linalg.solve(x.T @ x + eye, x.T @ (ratings[idx] - mu - bu[users[idx]]))
                q[i], bi[i] = sol[:-1], sol[-1]
    return mu, bu, bi, p, q


def expected_rounded_rating(x: np.ndarray | float, noise: float) -> np.ndarray:
    """``E[clip(rint(x + noise * Z), 1, 5)]`` for a standard normal ``Z``, in closed form.

    The rating is an integer k in 1..5, and ``E[Y] = 1 + sum_{j=1..4} P(Y > j)`` with
    ``P(Y > j) = P(x + noise Z > j + 1/2) = Phi((x - j - 1/2) / noise)``. Rounding half to even
    (numpy's ``rint``) only matters on the half-integers, a set of measure zero under continuous
    noise. Clipping ``x`` itself instead (what ``expected_rewards`` used to return) is off by up
    to 0.16 near the ends: 5 gives 4.84, 1.2 gives 1.28.

    Examples:
        >>> round(float(expected_rounded_rating(5.0, 0.5)), 2), round(float(expected_rounded_rating(1.2, 0.5)), 2)
        (4.84, 1.28)
    """
    from scipy.special import ndtr

    x = np.asarray(x, dtype=np.float64)
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    if noise == 0:
        return np.clip(np.rint(x), 1.0, 5.0)
    edges = np.arange(1, 5) + 0.5
    return 1.0 + ndtr((x[..., None] - edges) / noise).sum(-1)


class MovieLensSimulator(gym.Env):
    """A user fitted to MovieLens: predicted rating -> click -> rating, with boredom and patience.

    Click probability is ``sigmoid(slope * (r_hat - boredom - threshold))`` where ``r_hat`` is
    the MF-predicted rating; boredom is ``genre_boredom`` times the share of the last ``memory``
    recommendations sharing the item's genres, plus ``repeat_penalty`` for an item already
    consumed this episode. A click yields reward ``rating / 5`` (rating = r_hat - boredom +
    noise, clipped to 1..5); each ignored recommendation uses one unit of ``patience``, and the
    user leaves (``terminated``) when it is gone.
    """

    metadata = {"render_modes": []}

    def __init__(self, data: MovieLens, split: SequentialSplit, *, frame: int = 10, dim: int = 16,
                 slope: float = 2.0, threshold: float = 3.5, genre_boredom: float = 1.5, memory: int = 5,
                 repeat_penalty: float = 3.0, patience: int = 5, noise: float = 0.5,
                 episode_length: int = 50, seed: int = 0):
        self.data, self.split, self.frame = data, split, frame
        self.slope, self.threshold, self.genre_boredom, self.memory = slope, threshold, genre_boredom, memory
        self.repeat_penalty, self.patience, self.noise, self.episode_length = repeat_penalty, patience, noise, episode_length
        # Fitted on training interactions only, so the simulator never saw the test targets.
        u = np.concatenate([np.full(len(split.train_sequence(i)), i) for i in range(split.n_users)])
        it = np.concatenate(split.train_sequences())
        r = np.concatenate([split.train_ratings(i) for i in range(split.n_users)]).astype(np.float64)
        self.mu_, self.bu_, self.bi_, self.p_, self.q_ = fit_rating_mf(u, it, r, split.n_users, split.n_items,
                                                                       dim=dim, seed=seed)
        emb = self.q_ / (np.linalg.norm(self.q_, axis=1, keepdims=True) + 1e-8)
        self.item_embeddings = emb.astype(np.float32)
        self.genres_ = data.genres.astype(np.float64)
        self.action_space = spaces.Discrete(split.n_items)
        self.observation_space = spaces.Box(-2.0, 2.0, (frame, emb.shape[1] + 1), np.float32)
        self._user = -1

    @property
    def user(self) -> int:
        """Index of this episode's user (-1 before the first reset)."""
        return self._user

    def predicted_ratings(self, user: int) -> np.ndarray:
        return np.clip(self.mu_ + self.bu_[user] + self.bi_ + self.q_ @ self.p_[user], 1.0, 5.0)

    def boredom(self) -> np.ndarray:
        """How much each item's appeal is down now: genre fatigue from the last ``memory``
        recommendations plus ``repeat_penalty`` for items consumed this episode (rating points)."""
        recent = self.genres_[self._shown[-self.memory:]] if self._shown else np.zeros((1, self.genres_.shape[1]))
        share = (self.genres_ @ recent.mean(0)) / np.maximum(self.genres_.sum(1), 1.0)
        b = self.genre_boredom * share
        b[self._consumed] += self.repeat_penalty
        return b

    def click_probabilities(self) -> np.ndarray:
        z = self.slope * (self._r_hat - self.boredom() - self.threshold)
        return 1.0 / (1.0 + np.exp(-z))

    def expected_ratings(self) -> np.ndarray:
        """Expected rating of each item now, if clicked: ``E[clip(rint(x + noise N(0,1)), 1, 5)]``
        with ``x = r_hat - boredom`` (see :func:`expected_rounded_rating`)."""
        return expected_rounded_rating(self._r_hat - self.boredom(), self.noise)

    def expected_rewards(self) -> np.ndarray:
        """Expected immediate reward of each item now (click probability x expected rating / 5)."""
        return self.click_probabilities() * self.expected_ratings() / 5.0

    def _observe(self) -> np.ndarray:
        obs = np.zeros(self.observation_space.shape, np.float32)
        items, rats = self._consumed[-self.frame:], self._ratings[-self.frame:]
        if items:
            obs[-len(items):, :-1] = self.item_embeddings[items]
            obs[-len(items):, -1] = _rescale(np.asarray(rats))
        return obs

    def _info(self) -> dict[str, Any]:
        return {"user": self._user, "history": np.asarray(self._consumed, np.int64), "patience": self._patience}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        user = (options or {}).get("user")
        self._user = int(self.np_random.integers(self.split.n_users)) if user is None else int(user)
        if not 0 <= self._user < self.split.n_users:
            raise KeyError(f"unknown user index {self._user}")
        self._r_hat = self.predicted_ratings(self._user)
        seq, rat = self.split.train_sequence(self._user), self.split.train_ratings(self._user)
        self._consumed, self._ratings = list(seq[-self.frame:].tolist()), list(rat[-self.frame:].tolist())
        self._shown: list[int] = []
        self._patience, self._steps = self.patience, 0
        return self._observe(), self._info()

    def step(self, action):
        item = _checked_action(self, action)
        boredom = self.boredom()[item]
        p_click = 1.0 / (1.0 + np.exp(-self.slope * (self._r_hat[item] - boredom - self.threshold)))
        self._shown.append(item)
        reward = 0.0
        if self.np_random.random() < p_click:
            rating = float(np.clip(np.rint(self._r_hat[item] - boredom + self.noise * self.np_random.normal()), 1, 5))
            self._consumed.append(item)
            self._ratings.append(rating)
            reward = rating / 5.0
        else:
            self._patience -= 1
        self._steps += 1
        terminated = self._patience <= 0
        truncated = self._steps >= self.episode_length and not terminated
        return self._observe(), reward, terminated, truncated, self._info()


# ---------------------------------------------------------------------- registry factories
# Each loads MovieLens (default: the cached ML-100k; ``path=`` a GroupLens / atomic folder) and
# its chronological leave-one-out split when called, never at import.
def _data_and_split(path: str | None) -> tuple[MovieLens, SequentialSplit]:
    from recloop.data.movielens import load_movielens
    from recloop.data.splits import leave_one_out

    data = load_movielens(path)
    return data, leave_one_out(data)


@register("env", "movielens-frame", "movielens_frame")
def movielens_frame_env(path: str | None = None, **params: Any) -> FrameEnv:
    """MovieLens replay, state = last N items' metadata embeddings (genres, decade) + ratings."""
    from recloop.data.movielens import metadata_item_embeddings

    data, split = _data_and_split(path)
    return FrameEnv(split, metadata_item_embeddings(data), **params)


@register("env", "movielens-seq", "movielens_seq")
def movielens_seq_env(path: str | None = None, **params: Any) -> SeqEnv:
    """MovieLens replay, state = the user's whole recent history (padded item ids + ratings)."""
    return SeqEnv(_data_and_split(path)[1], **params)


@register("env", "movielens-sim", "movielens_sim", "movielens-simulator")
def movielens_simulator(path: str | None = None, **params: Any) -> MovieLensSimulator:
    """A user simulator fitted to MovieLens ratings (MF rating -> click, boredom, patience)."""
    return MovieLensSimulator(*_data_and_split(path), **params)
