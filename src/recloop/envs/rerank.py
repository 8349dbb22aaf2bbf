"""The re-ranking MDP: a candidate generator proposes the top N films, the agent picks one.

A production recommender rarely lets an RL policy loose on the whole catalogue: a supervised
model (trained on the logs) proposes a shortlist and a policy chooses among it. That shortlist
is also what makes RL cheap: the policy decides between N films described by a few features
instead of learning 1,682 item values from scratch (a DQN over all films earned 0.8 per episode
on the simulator, below random).

:class:`CandidateRerankEnv` wraps :class:`~recloop.envs.movielens.MovieLensSimulator`. The
observation is one row of features per candidate, built only from what a real system sees:
the generator's score, the item metadata (genres), and this episode's log of what was shown,
whether it was clicked and the rating given, plus the user's training ratings. It never reads
the simulator's user parameters, its boredom or its click model. The one action is the index
of a candidate (the rows are in the generator's order, best first).
"""

from __future__ import annotations

from typing import Any, Callable

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from recloop.envs.movielens import MovieLensSimulator

#: One column per candidate feature, in this order.
FEATURES = (
    "score",            # the generator's score, as it comes (clipped to +-10)
    "score_z",          # the score standardised over the shortlist
    "rank",             # position in the generator's order, 0 (best) .. 1 (last)
    "overlap_1",        # share of the candidate's genres in the last shown film
    "overlap_3",        # ... on average over the last 3 shown films
    "overlap_5",
    "overlap_10",
    "since_genre",      # steps since a film sharing a genre was shown, / 10, capped at 1
    "genre_click_rate",  # this episode: clicks / shown among films sharing its genres (smoothed)
    "genre_rating",     # this episode: mean rescaled rating of clicked films sharing its genres
    "history_rating",   # training log: the user's mean rescaled rating of films sharing its genres
    "misses",           # ignored recommendations so far this episode, / 5
    "recent_misses",    # ignored among the last 5 recommendations, / 5
    "time",             # step / episode length
)

Scorer = Callable[[int, np.ndarray], np.ndarray]


class CandidateRerankEnv(gym.Env):
    """Choose one of the generator's top ``n_candidates`` films at each step of a simulated user.

    ``scorer(user, history)`` is the candidate generator: the training-log user index and the
    films they consumed so far (their training tail and this episode's clicks), returning a
    score per catalogue item. Films already shown this episode, and with ``exclude_rated`` the
    films the user rated in the training log, are never candidates (nobody rates a film twice
    in MovieLens). Rewards, termination and truncation are the simulator's.

    ``candidates_`` holds the item ids behind the current observation's rows, so evaluation code
    can look the chosen film up in the simulator; the policy sees only the observation.
    """

    metadata = {"render_modes": []}

    def __init__(self, sim: MovieLensSimulator, scorer: Scorer, *, n_candidates: int = 20,
                 exclude_rated: bool = True):
        if n_candidates < 2:
            raise ValueError(f"n_candidates must be >= 2, got {n_candidates}")
        if n_candidates + sim.episode_length > sim.split.n_items:
            raise ValueError(f"n_candidates={n_candidates} plus an episode of {sim.episode_length} films "
                             f"exceeds the catalogue of {sim.split.n_items}")
        self.sim, self.scorer, self.n_candidates, self.exclude_rated = sim, scorer, int(n_candidates), exclude_rated
        self.genres = np.asarray(sim.data.genres, dtype=np.float64)
        self._n_genres = np.maximum(self.genres.sum(1), 1.0)
        self.action_space = spaces.Discrete(self.n_candidates)
        self.observation_space = spaces.Box(-10.0, 10.0, (self.n_candidates, len(FEATURES)), np.float32)
        self.candidates_ = np.zeros(0, np.int64)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        _, info = self.sim.reset(seed=seed, options=options)
        self._user, self._history = int(info["user"]), info["history"]
        rated = self.sim.split.train_sequence(self._user)
        self._blocked = np.zeros(self.sim.split.n_items, bool)
        if self.exclude_rated:
            self._blocked[rated] = True
        # the user's mean rescaled training rating per genre (0 where they rated none)
        r = (self.sim.split.train_ratings(self._user).astype(np.float64) - 3.0) / 2.0
        g = self.genres[rated]
        self._genre_rating = (g.T @ r) / np.maximum(g.sum(0), 1.0)
        self._shown: list[int] = []
        self._clicked: list[bool] = []
        self._shown_g = np.zeros(self.genres.shape[1])
        self._clicked_g = np.zeros(self.genres.shape[1])
        self._rating_g = np.zeros(self.genres.shape[1])
        return self._observe(), self._info(info)

    def step(self, action):
        a = int(action)
        if not self.action_space.contains(a):
            raise ValueError(f"action {action!r} is not a candidate index in 0..{self.n_candidates - 1}")
        if not self.candidates_.size:
            raise RuntimeError("call reset() before step()")
        item = int(self.candidates_[a])
        _, reward, terminated, truncated, info = self.sim.step(item)
        self._history = info["history"]
        clicked = reward > 0
        self._shown.append(item)
        self._clicked.append(clicked)
        self._blocked[item] = True
        g = self.genres[item]
        self._shown_g += g
        if clicked:
            self._clicked_g += g
            self._rating_g += g * (reward * 5.0 - 3.0) / 2.0
        obs = self._observe()  # first: it moves the shortlist that the info reports
        return obs, reward, terminated, truncated, self._info(info) | {"item": item, "clicked": clicked}

    def _info(self, sim_info: dict) -> dict[str, Any]:
        return {"user": self._user, "candidates": self.candidates_.copy(), "patience": sim_info["patience"]}

    def _observe(self) -> np.ndarray:
        scores = np.asarray(self.scorer(self._user, self._history), dtype=np.float64).copy()
        scores[self._blocked] = -np.inf
        n = self.n_candidates
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        self.candidates_ = top
        s = scores[top]
        g = self.genres[top]
        x = np.zeros((n, len(FEATURES)), np.float32)
        x[:, 0] = np.clip(s, -10.0, 10.0)
        x[:, 1] = (s - s.mean()) / (s.std() + 1e-6)
        x[:, 2] = np.arange(n) / (n - 1)
        shown = np.asarray(self._shown, np.int64)
        for col, w in zip((3, 4, 5, 6), (1, 3, 5, 10)):
            if shown.size:
                x[:, col] = (g @ self.genres[shown[-w:]].mean(0)) / self._n_genres[top]
        since = np.ones(n)
        for lag, item in enumerate(shown[::-1][:10]):  # most recent first
            shares = (g @ self.genres[item]) > 0
            since = np.where(shares & (since == 1.0), lag / 10.0, since)
        x[:, 7] = since
        shown_g, clicked_g = g @ self._shown_g, g @ self._clicked_g
        x[:, 8] = (clicked_g + 1.0) / (shown_g + 2.0)
        x[:, 9] = np.where(clicked_g > 0, (g @ self._rating_g) / np.maximum(clicked_g, 1.0), 0.0)
        x[:, 10] = (g @ self._genre_rating) / self._n_genres[top]
        misses = [not c for c in self._clicked]
        x[:, 11] = sum(misses) / 5.0
        x[:, 12] = sum(misses[-5:]) / 5.0
        x[:, 13] = len(shown) / self.sim.episode_length
        return np.clip(x, -10.0, 10.0)


def rating_mf_scorer(split, *, dim: int = 32, reg: float = 10.0, iters: int = 10, seed: int = 1) -> Scorer:
    """A candidate generator: biased MF of the *training* ratings (predicted rating per film).

    The simulator's tastes are an MF fitted to the same training ratings (``dim=16, reg=5,
    seed=0``), so a rating model learned from these logs knows them unusually well: a real
    audience's tastes are not an MF. The defaults differ from the simulator's fit, which is
    never read. The score ignores ``history``: a user's ratings in the log fix it."""
    from recloop.envs.movielens import fit_rating_mf

    users = np.concatenate([np.full(len(split.train_sequence(i)), i) for i in range(split.n_users)])
    items = np.concatenate(split.train_sequences())
    ratings = np.concatenate([split.train_ratings(i) for i in range(split.n_users)]).astype(np.float64)
    mu, bu, bi, p, q = fit_rating_mf(users, items, ratings, split.n_users, split.n_items, dim=dim, reg=reg,
                                     iters=iters, seed=seed)

    def score(user: int, history: np.ndarray) -> np.ndarray:
        return mu + bu[user] + bi + q @ p[user]

    return score
