"""RecSim's interest-evolution environment, vectorised over users.

A user with topic interests ``I`` in [-1, 1]^20 (observed) and a hidden time
budget of 200 minutes is shown a slate of 2 videos out of 10 fresh candidates
each step. Clicks follow RecSim's multinomial-proportional model: item ``i`` with
weight ``I[topic_i] + 1``, no click with weight 2. A click watches
``min(budget, 4)`` minutes (the reward), moves the interest in that topic by
``±0.3 (1 - |I_k|) (1 - I_k)`` (towards the topic with probability ``(I_k+1)/2``)
and refunds ``0.9/3.4 × 4 × quality`` minutes of budget: nutritious videos keep a
user longer. No click costs 0.5 minutes. The session ends when the budget runs out.

Everything — defaults, update rule, order of operations — follows RecSim's
``recsim/environments/interest_evolution.py`` (``UtilityModelUserSampler``,
``UtilityModelVideoSampler``, ``IEvUserModel``, ``clicked_watchtime_reward``),
used for SlateQ in Ie et al., "SlateQ: A Tractable Decomposition for
Reinforcement Learning with Recommendation Sets", IJCAI 2019.

Examples
--------
>>> env = InterestEvolutionVectorEnv(num_envs=4)
>>> obs, info = env.reset(seed=0)
>>> obs["user"].shape, obs["doc"].shape
((4, 20), (4, 10, 20))
>>> obs, reward, terminated, truncated, info = env.step([[0, 1]] * 4)
>>> reward.shape
(4,)
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from recloop.core.registry import register
from recloop.envs.slate import rng
from recloop.envs.slate.base import SlateEnv, SlateVectorEnv
from recloop.envs.slate.choice import ChoiceModel, MultinomialProportional, choice_model, sample_choices
from recloop.envs.slate.documents import ClusterDocumentSampler

MAX_QUALITY = 100.0  # RecSim's IEvResponse quality range


class InterestEvolutionUserModel:
    """RecSim's ``UtilityModelUserSampler`` + ``IEvUserModel`` transition, as parameters and two functions."""

    def __init__(self, *, num_topics: int = 20, time_budget: float = 200.0, step_penalty: float = 0.5,
                 user_update_alpha: float = 0.9 / 3.4, alpha_x_intercept: float = 1.0,
                 alpha_y_intercept: float = 0.3, user_quality_factor: float = 0.0,
                 document_quality_factor: float = 1.0):
        if int(num_topics) != num_topics or num_topics < 1:
            raise ValueError(f"num_topics must be a positive integer, got {num_topics!r}")
        for name, v in (("time_budget", time_budget), ("alpha_x_intercept", alpha_x_intercept)):
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a finite float > 0, got {v!r}")
        for name, v in (("step_penalty", step_penalty), ("user_update_alpha", user_update_alpha),
                        ("alpha_y_intercept", alpha_y_intercept)):
            if not (np.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite float >= 0, got {v!r}")
        self.num_topics = int(num_topics)
        self.time_budget = float(time_budget)
        self.step_penalty = float(step_penalty)
        self.user_update_alpha = float(user_update_alpha)
        self.alpha_x_intercept = float(alpha_x_intercept)
        self.alpha_y_intercept = float(alpha_y_intercept)
        self.user_quality_factor = float(user_quality_factor)
        self.document_quality_factor = float(document_quality_factor)

    @property
    def words(self) -> int:
        return (self.num_topics + 1) // 2

    def sample_interests(self, words: np.ndarray) -> np.ndarray:
        """Interests ~ U(-1, 1)^num_topics: two uniforms per random word."""
        u = np.concatenate([rng.hi_uniform(words), rng.lo_uniform(words)], axis=1)[:, : self.num_topics]
        return 2.0 * u - 1.0

    def interest_step(self, interest: np.ndarray) -> np.ndarray:
        """Size of the move of a clicked topic's interest: RecSim's ``compute_alpha`` x (1 - I)."""
        alpha = (-self.alpha_y_intercept / self.alpha_x_intercept) * np.abs(interest) + self.alpha_y_intercept
        return alpha * (1.0 - interest)


class InterestEvolutionVectorEnv(SlateVectorEnv):
    """``num_envs`` interest-evolution users stepped together (see the module docstring)."""

    #: how an agent that knows the choice model scores a document: RecSim's user · doc
    affinity_kind = "dot"

    def __init__(self, num_envs: int = 1, *, num_candidates: int = 10, slate_size: int = 2,
                 resample_documents: bool = True, choice: ChoiceModel | str | dict | None = None,
                 user_model: InterestEvolutionUserModel | dict | None = None,
                 document_sampler: ClusterDocumentSampler | dict | None = None, autoreset: bool = True):
        self.user_model = (user_model if isinstance(user_model, InterestEvolutionUserModel)
                           else InterestEvolutionUserModel(**(user_model or {})))
        self.document_sampler = (document_sampler if isinstance(document_sampler, ClusterDocumentSampler)
                                 else ClusterDocumentSampler(**{"num_clusters": self.user_model.num_topics,
                                                                **(document_sampler or {})}))
        if self.document_sampler.num_clusters != self.user_model.num_topics:
            raise ValueError(f"document clusters ({self.document_sampler.num_clusters}) must equal "
                             f"user topics ({self.user_model.num_topics})")
        self.choice_model = choice_model(choice) if choice is not None else MultinomialProportional(
            no_click_mass=1.0, min_normalizer=-1.0)
        self._params = {"num_candidates": num_candidates, "slate_size": slate_size,
                        "resample_documents": resample_documents, "choice": repr(self.choice_model)}
        self.reset_words = self.user_model.words + int(num_candidates)
        self.step_words = 1 + int(num_candidates)
        super().__init__(num_envs, num_candidates=num_candidates, slate_size=slate_size,
                         resample_documents=resample_documents, autoreset=autoreset)
        B, K, S, T = self.num_envs, self.num_candidates, self.slate_size, self.user_model.num_topics
        self.interests = np.zeros((B, T))
        self.budget = np.zeros(B)
        self.cluster = np.zeros((B, K), dtype=np.int64)
        self.quality = np.zeros((B, K))
        self._click = np.zeros((B, S), dtype=np.int8)
        self._watch = np.zeros((B, S), dtype=np.float32)
        self._resp_quality = np.zeros((B, S), dtype=np.float32)
        self._resp_cluster = np.zeros((B, S), dtype=np.int64)
        self._rows = np.arange(B)

    def _single_observation_space(self) -> spaces.Dict:
        K, S, T = self.num_candidates, self.slate_size, self.user_model.num_topics
        length = self.document_sampler.video_length
        return spaces.Dict({
            "user": spaces.Box(-1.0, 1.0, (T,), np.float32),
            "doc": spaces.Box(0.0, 1.0, (K, T), np.float32),
            "response": spaces.Dict({
                "click": spaces.MultiBinary(S),
                "watch_time": spaces.Box(0.0, length, (S,), np.float32),
                "quality": spaces.Box(-MAX_QUALITY, MAX_QUALITY, (S,), np.float32),
                "cluster_id": spaces.MultiDiscrete(np.full(S, T)),
            }),
        })

    def _reset_users(self, idx, words) -> None:
        uw = self.user_model.words
        self.interests[idx] = self.user_model.sample_interests(words[:, :uw])
        self.budget[idx] = self.user_model.time_budget
        docs = self.document_sampler.sample(words[:, uw:])
        self.cluster[idx], self.quality[idx] = docs["cluster"], docs["quality"]
        self._click[idx] = 0
        self._watch[idx] = 0.0
        self._resp_quality[idx] = 0.0
        self._resp_cluster[idx] = 0

    def _affinities(self, slates: np.ndarray) -> np.ndarray:
        # features are one-hot topics, so the user-document dot product is a lookup
        topics = self.cluster[self._rows[:, None], slates]
        return self.interests[self._rows[:, None], topics], topics

    def choice_probabilities(self, slates: np.ndarray) -> np.ndarray:
        return self.choice_model.probabilities(self._affinities(np.asarray(slates))[0])

    def _step_users(self, slates, words):
        um, r, S = self.user_model, self._rows, self.slate_size
        affinity, topics = self._affinities(slates)
        probs = self.choice_model.probabilities(affinity)
        w0 = words[:, 0]
        choice = sample_choices(probs, rng.hi_uniform(w0))
        clicked = choice < S
        pos = np.minimum(choice, S - 1)
        k = topics[r, pos]
        q = self.quality[r, slates[r, pos]]
        watch = np.where(clicked, np.minimum(self.budget, self.document_sampler.video_length), 0.0)
        # Interest moves towards the clicked topic with probability (I_k + 1) / 2, else away.
        ik = self.interests[r, k]
        step = um.interest_step(ik)
        towards = rng.lo_uniform(w0) < (ik + 1.0) / 2.0
        new_ik = np.clip(ik + np.where(towards, step, -step), -1.0, 1.0)
        hit = r[clicked]
        self.interests[hit, k[clicked]] = new_ik[clicked]
        # Budget: pay the watch time, get a refund proportional to quality (RecSim's user_update_alpha).
        utility = um.document_quality_factor * q
        if um.user_quality_factor:
            utility = utility + um.user_quality_factor * self.choice_model.item_utility(ik)
        self.budget = np.where(clicked, self.budget - watch + um.user_update_alpha * watch * utility,
                               self.budget - um.step_penalty)
        self._click[:] = 0
        self._click[hit, pos[clicked]] = 1
        self._watch[:] = 0.0
        self._watch[hit, pos[clicked]] = watch[clicked]
        self._resp_quality[:] = self.quality[r[:, None], slates]
        self._resp_cluster[:] = topics
        if self.resample_documents:
            docs = self.document_sampler.sample(words[:, 1:])
            self.cluster, self.quality = docs["cluster"], docs["quality"]
        return watch, self.budget <= 0.0

    def _observe(self, idx=slice(None)) -> dict:
        return {
            "user": self.interests[idx].astype(np.float32),
            "doc": self.document_sampler.features({"cluster": self.cluster[idx]}),
            "response": {"click": self._click[idx].copy(), "watch_time": self._watch[idx].copy(),
                         "quality": self._resp_quality[idx].copy(), "cluster_id": self._resp_cluster[idx].copy()},
        }


class InterestEvolution(SlateEnv):
    """Single-user interest-evolution env (passes ``gymnasium.utils.env_checker.check_env``).

    >>> env = InterestEvolution()
    >>> obs, _ = env.reset(seed=1)
    >>> obs, reward, terminated, truncated, info = env.step([3, 7])
    """

    vector_class = InterestEvolutionVectorEnv


@register("env", "interest-evolution", "interest_evolution", "ie")
def make_interest_evolution(num_envs: int | None = None, **params) -> InterestEvolution | InterestEvolutionVectorEnv:
    """``num_envs=None``: the single-user env; an int: the vectorised batch of that many users."""
    if num_envs is None:
        return InterestEvolution(**params)
    return InterestEvolutionVectorEnv(num_envs, **params)
