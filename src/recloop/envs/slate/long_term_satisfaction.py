"""RecSim's long-term-satisfaction ("chocolate vs kale") environment, vectorised over users.

Each document has a clickbaitiness ``c`` in [0, 1]. The user clicks the first
item of the slate; engagement is log-normal with log-mean
``(c choc_mean + (1 - c) kale_mean) × SAT`` and log-std
``c choc_stddev + (1 - c) kale_stddev``, where satisfaction ``SAT =
sigmoid(sensitivity × NPE)`` and the net positive exposure evolves as
``NPE <- memory_discount × NPE - 2 (c - 1/2) + N(0, innovation_stddev²)``.
Clickbait pays now and erodes satisfaction later. Follows RecSim's
``recsim/environments/long_term_satisfaction.py`` (defaults of
``LTSStaticUserSampler``; note the code *subtracts* ``2 (c - 1/2)``, which is the
dynamics we reproduce, although its docstring writes ``+``).

With RecSim's ``sensitivity=0.01`` satisfaction stays within 0.5 ± 0.01, so
clickbait is (nearly) always best and there is no long-term trade-off. The
``"meaningful"`` preset (:data:`MEANINGFUL`) makes satisfaction matter and
observable; there, always serving the most clickbaity item earns clearly less
per session than a policy that plans (see ``docs/slate.md`` for the numbers).
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from recloop.core.registry import register
from recloop.envs.slate import rng
from recloop.envs.slate.base import SlateEnv, SlateVectorEnv
from recloop.envs.slate.choice import Cascade, ChoiceModel, choice_model, sample_choices
from recloop.envs.slate.documents import ClickbaitDocumentSampler

MAX_ENGAGEMENT = 100.0  # RecSim's LTSResponse.MAX_ENGAGEMENT_MAGNITUDE (observation clip)

#: RecSim's LTSStaticUserSampler defaults.
RECSIM_DEFAULTS = dict(memory_discount=0.7, sensitivity=0.01, innovation_stddev=0.05, choc_mean=5.0,
                       choc_stddev=1.0, kale_mean=4.0, kale_stddev=1.0, time_budget=60,
                       observe_satisfaction=False)
#: Satisfaction matters (sensitivity 0.5) and the user's satisfaction is observed, so a
#: planner can learn what clickbait costs; engagement noise is smaller so 60-step
#: sessions are comparable. Myopic (always most clickbaity) vs planned: docs/slate.md.
MEANINGFUL = dict(memory_discount=0.9, sensitivity=0.5, innovation_stddev=0.05, choc_mean=5.0,
                  choc_stddev=0.2, kale_mean=4.0, kale_stddev=0.2, time_budget=60,
                  observe_satisfaction=True)
PRESETS = {"recsim": RECSIM_DEFAULTS, "meaningful": MEANINGFUL}


class LongTermSatisfactionVectorEnv(SlateVectorEnv):
    """``num_envs`` chocolate-vs-kale users stepped together (see the module docstring)."""

    #: every document scores 1: the RecSim user takes the first item whatever it is
    affinity_kind = "constant"

    def __init__(self, num_envs: int = 1, *, num_candidates: int = 10, slate_size: int = 1,
                 preset: str | None = None, memory_discount: float | None = None,
                 sensitivity: float | None = None, innovation_stddev: float | None = None,
                 choc_mean: float | None = None, choc_stddev: float | None = None,
                 kale_mean: float | None = None, kale_stddev: float | None = None,
                 time_budget: int | None = None, observe_satisfaction: bool | None = None,
                 choice: ChoiceModel | str | dict | None = None, resample_documents: bool = True,
                 autoreset: bool = True):
        if preset is not None and preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
        given = dict(memory_discount=memory_discount, sensitivity=sensitivity,
                     innovation_stddev=innovation_stddev, choc_mean=choc_mean, choc_stddev=choc_stddev,
                     kale_mean=kale_mean, kale_stddev=kale_stddev, time_budget=time_budget,
                     observe_satisfaction=observe_satisfaction)
        p = {**PRESETS[preset or "recsim"], **{k: v for k, v in given.items() if v is not None}}
        if not 0.0 <= p["memory_discount"] < 1.0:
            raise ValueError(f"memory_discount must be in [0, 1), got {p['memory_discount']!r}")
        for name in ("innovation_stddev", "choc_stddev", "kale_stddev", "sensitivity"):
            if not (np.isfinite(p[name]) and p[name] >= 0):
                raise ValueError(f"{name} must be a finite float >= 0, got {p[name]!r}")
        if isinstance(p["time_budget"], bool) or int(p["time_budget"]) != p["time_budget"] or p["time_budget"] < 1:
            raise ValueError(f"time_budget must be a positive integer, got {p['time_budget']!r}")
        self.params = p
        self.document_sampler = ClickbaitDocumentSampler()
        # RecSim's user clicks the first item of the slate: a cascade whose first item is always clicked.
        self.choice_model = choice_model(choice) if choice is not None else Cascade(
            attention_prob=1.0, score_scaling=1.0, kind="proportional", min_normalizer=0.0)
        self._params = {"num_candidates": num_candidates, "slate_size": slate_size, **p,
                        "choice": repr(self.choice_model)}
        self.reset_words = 1 + int(num_candidates)
        self.step_words = 2 + int(num_candidates)
        super().__init__(num_envs, num_candidates=num_candidates, slate_size=slate_size,
                         resample_documents=resample_documents, autoreset=autoreset)
        B, K, S = self.num_envs, self.num_candidates, self.slate_size
        self.npe = np.zeros(B)
        self.satisfaction = np.zeros(B)
        self.budget = np.zeros(B, dtype=np.int64)
        self.clickbait = np.zeros((B, K))
        self._click = np.zeros((B, S), dtype=np.int8)
        self._engagement = np.zeros((B, S), dtype=np.float32)
        self._rows = np.arange(B)

    def _single_observation_space(self) -> spaces.Dict:
        user_dim = 1 if self.params["observe_satisfaction"] else 0
        return spaces.Dict({
            "user": spaces.Box(0.0, 1.0, (user_dim,), np.float32),
            "doc": spaces.Box(0.0, 1.0, (self.num_candidates, 1), np.float32),
            "response": spaces.Dict({
                "click": spaces.MultiBinary(self.slate_size),
                "engagement": spaces.Box(0.0, MAX_ENGAGEMENT, (self.slate_size,), np.float32),
            }),
        })

    def _sat(self, npe: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.params["sensitivity"] * npe))

    def _reset_users(self, idx, words) -> None:
        # RecSim: NPE_0 = (U(0,1) - 1/2) / (1 - memory_discount)
        self.npe[idx] = (rng.hi_uniform(words[:, 0]) - 0.5) / (1.0 - self.params["memory_discount"])
        self.satisfaction[idx] = self._sat(self.npe[idx])
        self.budget[idx] = self.params["time_budget"]
        self.clickbait[idx] = self.document_sampler.sample(words[:, 1:])["clickbait"]
        self._click[idx] = 0
        self._engagement[idx] = 0.0

    def choice_probabilities(self, slates: np.ndarray) -> np.ndarray:
        return self.choice_model.probabilities(np.ones(np.shape(slates)))

    def _step_users(self, slates, words):
        p, r, S = self.params, self._rows, self.slate_size
        w0 = words[:, 0]
        choice = sample_choices(self.choice_probabilities(slates), rng.hi_uniform(w0))
        clicked = choice < S
        pos = np.minimum(choice, S - 1)
        c = self.clickbait[r, slates[r, pos]]
        # Engagement uses the satisfaction *before* this click (RecSim: response, then state update).
        loc = (c * p["choc_mean"] + (1.0 - c) * p["kale_mean"]) * self.satisfaction
        scale = c * p["choc_stddev"] + (1.0 - c) * p["kale_stddev"]
        z = rng.normal(rng.hi_uniform(words[:, 1]))
        engagement = np.where(clicked, np.exp(loc + scale * z), 0.0)
        innovation = p["innovation_stddev"] * rng.normal(rng.lo_uniform(w0))
        self.npe = np.where(clicked, p["memory_discount"] * self.npe - 2.0 * (c - 0.5) + innovation, self.npe)
        self.satisfaction = self._sat(self.npe)
        # RecSim only spends budget on a click (its user always clicks); we spend it every step so
        # that choice models with a no-click option still end sessions.
        self.budget -= 1
        self._click[:] = 0
        self._click[r[clicked], pos[clicked]] = 1
        self._engagement[:] = 0.0
        self._engagement[r[clicked], pos[clicked]] = np.minimum(engagement[clicked], MAX_ENGAGEMENT)
        if self.resample_documents:
            self.clickbait = self.document_sampler.sample(words[:, 2:])["clickbait"]
        return engagement, self.budget <= 0

    def _observe(self, idx=slice(None)) -> dict:
        sat = self.satisfaction[idx]
        user = (sat[:, None] if self.params["observe_satisfaction"] else np.zeros((len(sat), 0))).astype(np.float32)
        return {"user": user, "doc": self.document_sampler.features({"clickbait": self.clickbait[idx]}),
                "response": {"click": self._click[idx].copy(), "engagement": self._engagement[idx].copy()}}


class LongTermSatisfaction(SlateEnv):
    """Single-user chocolate-vs-kale env (passes ``check_env``).

    >>> env = LongTermSatisfaction(preset="meaningful")
    >>> obs, _ = env.reset(seed=0)
    >>> obs["user"].shape, obs["doc"].shape
    ((1,), (10, 1))
    """

    vector_class = LongTermSatisfactionVectorEnv


@register("env", "long-term-satisfaction", "long_term_satisfaction", "lts", "choc-kale")
def make_long_term_satisfaction(num_envs: int | None = None, **params):
    """``num_envs=None``: the single-user env; an int: the vectorised batch of that many users."""
    if num_envs is None:
        return LongTermSatisfaction(**params)
    return LongTermSatisfactionVectorEnv(num_envs, **params)
