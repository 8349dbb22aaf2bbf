"""The bandit policy base: both faces of the Policy protocol over one learned state.

A concrete bandit says three things — how it scores arms, how likely it is to
pick each, and how it learns from one reward — and inherits the rest: input
checks, candidate subsets, item-id mapping for serving, batching, save/load.

Simulation face works in arm indices ``0..n_arms-1``. Serving face takes item
ids; each new id gets the next arm index, so the catalogue can grow.

**Item ids are first class.** The id-to-arm map is part of the learned state and
is saved with the model, so a model trained offline (``fit(logs)``, or
``update_batch`` with item ids) ranks the same items the same way in the library
and in the server, whatever the order or subset of candidates. New ids of one
request are added in one bulk step (:meth:`BanditPolicy.add_items`). The catalogue
can be bounded: with ``max_items`` set, adding ids beyond it first evicts the items
unseen for longest (neither recommended nor rewarded); their arms are reset to the
fresh state and reused, so memory stays bounded for an ever-changing catalogue.

**Cold start.** A new item starts from the fresh per-arm state of its policy (the
prior): an optimistic index for UCB-style policies (UCB1, KL-UCB, LinUCB and
hybrid LinUCB give it a wide confidence term, so it is tried soon), the prior
draw for Thompson-style policies (Beta(alpha0, beta0), N(0, prior) or the ridge
prior of LinTS / NeuralLinear), a zero estimate for epsilon-greedy and softmax
(so only exploration shows it until it earns reward), zero log-weight for EXP3
(the average weight at the start, below items that have earned weight) and the
prior's index for Gittins. HybridLinUCB also shares what it learned about
contexts x item features with the new item through its shared coefficients.

**The serving face** (what a service or OPE needs, documented and public):
:meth:`~BanditPolicy.recommend`, :meth:`~BanditPolicy.item_probabilities`,
:meth:`~BanditPolicy.item_scores`, :meth:`~BanditPolicy.item_arms`,
:meth:`~BanditPolicy.add_items`, :attr:`~BanditPolicy.known_items`,
:meth:`~BanditPolicy.update_many`, :meth:`~BanditPolicy.fit`,
:meth:`~BanditPolicy.per_item_state`, :meth:`~BanditPolicy.fresh_item_state`,
:meth:`~BanditPolicy.save` / :meth:`~BanditPolicy.load`.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from typing import Any, Hashable, Iterable, Sequence, cast

import numpy as np

from recloop.core import persist
from recloop.core.ranking import check_candidates, rank
from recloop.core.registry import lookup
from recloop.core.seeding import as_generator
from recloop.core.types import Feedback, Recommendation
from recloop.data.logs import fingerprint


class BanditPolicy(ABC):
    """Base class of every bandit policy (simulation and serving faces).

    Subclasses implement :meth:`_new_arms`, :meth:`_scores`, :meth:`_learn` and
    where the choice is not the argmax of the scores, :meth:`_probs` and
    :meth:`_choose`.
    """

    contextual: bool = False
    #: Length of the feature vector a policy needs with every candidate (None: it knows
    #: items by id alone). Serving passes the candidates' features to such a policy and
    #: joins each reward with the chosen item's features as they were when it was shown.
    n_item_features: int | None = None
    registry_name: str  # set by @register on each registered subclass
    #: Deterministic index policies choose the argmax; their probabilities are exact.
    #: Sampling policies (Thompson) estimate probabilities by Monte Carlo.

    def __init__(self, n_arms: int | None = None, *, n_features: int | None = None, seed: int | None = None):
        if n_arms is not None and (int(n_arms) != n_arms or n_arms < 1):
            raise ValueError(f"n_arms must be a positive integer, got {n_arms!r}")
        if self.contextual and n_features is None:
            raise ValueError(f"{type(self).__name__} is contextual: pass n_features (context dimension)")
        if n_features is not None and (int(n_features) != n_features or n_features < 1):
            raise ValueError(f"n_features must be a positive integer, got {n_features!r}")
        self.n_arms = n_arms
        self.n_features = n_features
        self.seed = seed
        self.rng_ = as_generator(seed)
        self.t_ = 0
        self.item_ids_: list = []
        self._index: dict = {}
        self.arms_ = 0
        self.last_seen_ = np.zeros(0, dtype=np.int64)  # per arm: the clock when last recommended or rewarded
        self.clock_ = 0
        self.max_items: int | None = None  # see set_max_items
        self.exploration = 0.0  # see set_exploration
        self.featuriser_: dict | None = None  # Featuriser.to_dict() for contexts given as dicts
        self._featuriser: Any = None
        if n_arms:
            self._add_arms(int(n_arms))

    # ------------------------------------------------------------ for subclasses
    @abstractmethod
    def _new_arms(self, n: int) -> dict[str, np.ndarray]:
        """Fresh per-arm state for ``n`` new arms: ``{"attr_": array with leading axis n}``."""

    @abstractmethod
    def _scores(self, x: np.ndarray | None, arms: np.ndarray) -> np.ndarray:
        """Selection score of each arm in ``arms`` (an index, or a posterior sample)."""

    @abstractmethod
    def _learn(self, arm: int, reward: float, x: np.ndarray | None) -> None:
        """Absorb one reward for ``arm``."""

    def _greedy_scores(self, x: np.ndarray | None, arms: np.ndarray) -> np.ndarray:
        """Exploitation scores (estimated mean reward); default: the selection scores."""
        return self._scores(x, arms)

    def _probs(self, x: np.ndarray | None, arms: np.ndarray) -> np.ndarray:
        """Probability of choosing each arm in ``arms``; default: uniform over the argmax set."""
        return _argmax_probs(self._scores(x, arms))

    def _choose(self, x: np.ndarray | None, arms: np.ndarray) -> int:
        """Position (in ``arms``) of the arm chosen; default: argmax, ties broken at random."""
        return _argmax(self._scores(x, arms), self.rng_)

    def _learn_batch(self, arms: np.ndarray, rewards: np.ndarray, X: np.ndarray | None) -> None:
        for i in range(len(arms)):
            self._learn(int(arms[i]), float(rewards[i]), None if X is None else X[i])

    # ------------------------------------------------------------ arms and ids
    def _add_arms(self, n: int) -> None:
        fresh = self._new_arms(n)
        for name, arr in fresh.items():
            old = getattr(self, name, None)
            setattr(self, name, arr if old is None or self.arms_ == 0 else np.concatenate([old, arr]))
        self.last_seen_ = np.concatenate([self.last_seen_, np.full(n, self.clock_, dtype=np.int64)])
        self.arms_ += n

    def _reset_arms(self, arms: np.ndarray) -> None:
        """Give ``arms`` the fresh per-arm state again (their items were evicted)."""
        for name, arr in self._new_arms(len(arms)).items():
            getattr(self, name)[arms] = arr
        self._forget_arms(arms)

    def _forget_arms(self, arms: np.ndarray) -> None:
        """Drop anything else a policy keeps about ``arms`` (e.g. a replay history)."""

    @property
    def known_items(self) -> list:
        """Item ids the policy has an arm for, in arm order (``known_items[arm]``)."""
        return list(self.item_ids_)

    def set_exploration(self, epsilon: float) -> "BanditPolicy":
        """An exploration floor (Vowpal Wabbit's ``--epsilon``, Personalizer's exploration share):
        choose uniformly among the candidates with probability ``epsilon``, else as the policy
        would. Every candidate keeps probability >= epsilon / K, so even a deterministic policy
        (LinUCB, greedy) logs propensities below 1 and its logs can evaluate other policies.
        Saved with the model; the service turns it on by default."""
        if not 0.0 <= float(epsilon) <= 1.0:
            raise ValueError(f"exploration (epsilon) must be in [0, 1], got {epsilon!r}")
        self.exploration = float(epsilon)
        return self

    def _floored(self, p: np.ndarray) -> np.ndarray:
        eps = self.exploration
        return p if not eps else (1.0 - eps) * p + eps / len(p)

    def set_max_items(self, max_items: int | None) -> "BanditPolicy":
        """Bound the catalogue: beyond ``max_items`` ids, the items unseen for longest are evicted."""
        if max_items is not None and (int(max_items) != max_items or max_items < 1):
            raise ValueError(f"max_items must be a positive integer or None, got {max_items!r}")
        self.max_items = None if max_items is None else int(max_items)
        return self

    def add_items(self, ids: Sequence[Hashable], *, keep: np.ndarray | None = None) -> int:
        """Give every unknown id in ``ids`` an arm, all in one step; returns how many were new.

        With ``max_items`` set, room is made first by evicting the items unseen for
        longest (never those in ``keep``, the arms of the request being served).
        """
        new = list(dict.fromkeys(i for i in ids if i not in self._index))
        if not new:
            return 0
        slots: list[int] = []
        n_named = len(self.item_ids_)
        if self.max_items is not None and n_named + len(new) > self.max_items:
            if len(new) > self.max_items:
                raise ValueError(f"{len(new)} new items in one request exceed max_items={self.max_items}")
            n_evict = n_named + len(new) - self.max_items
            evictable = np.ones(n_named, dtype=bool)
            if keep is not None and len(keep):
                evictable[keep[keep < n_named]] = False
            candidates = np.flatnonzero(evictable)
            if len(candidates) < n_evict:
                raise ValueError(f"max_items={self.max_items} leaves no room: every known item is in this request")
            victims = candidates[np.argsort(self.last_seen_[candidates], kind="stable")[:n_evict]]
            for arm in victims:
                del self._index[self.item_ids_[arm]]
            self._reset_arms(victims)
            slots = victims.tolist()
        remaining = len(new) - len(slots)
        grow = remaining - (self.arms_ - n_named)  # arms made by n_arms but not yet named are used first
        if grow > 0:
            self._add_arms(grow)  # one concatenate for all of them, not a copy per item
        slots += range(n_named, n_named + remaining)
        for arm, item in zip(slots, new):
            self._index[item] = arm
            if arm < len(self.item_ids_):
                self.item_ids_[arm] = item
            else:
                self.item_ids_.append(item)
        self.last_seen_[np.asarray(slots, dtype=np.int64)] = self.clock_
        return len(new)

    def item_arms(self, ids: Sequence[Hashable], add: bool = True) -> np.ndarray:
        """Arm index of each item id; unknown ids get arms (``add=True``) or raise ``KeyError``."""
        index = self._index
        try:
            return np.fromiter((index[i] for i in ids), dtype=np.int64, count=len(ids))
        except KeyError as err:
            if not add:
                raise KeyError(f"unknown item id {err.args[0]!r}: this policy has never shown it") from None
        known = np.fromiter((index[i] for i in ids if i in index), dtype=np.int64)
        self.add_items(ids, keep=known)
        return np.fromiter((index[i] for i in ids), dtype=np.int64, count=len(ids))

    def _seen(self, arms: np.ndarray | int) -> None:
        self.clock_ += 1
        self.last_seen_[arms] = self.clock_

    def per_item_state(self) -> dict[Any, dict[str, np.ndarray]]:
        """Learned per-arm arrays keyed by item id (arm indices differ between runs that met
        the items in another order; the state per item must not)."""
        arrays = {k: v for k, v in self.state_dict().items()
                  if isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == self.arms_
                  and k not in ("item_ids_", "last_seen_")}
        return {item: {k: v[i] for k, v in arrays.items()} for i, item in enumerate(self.item_ids_)}

    def fresh_item_state(self) -> dict[str, np.ndarray]:
        """The per-arm state a never-updated item starts from (its cold start)."""
        return {k: v[0] for k, v in self._new_arms(1).items()}

    @property
    def featuriser(self) -> Any:
        """The :class:`~recloop.data.features.Featuriser` for dict contexts, or ``None``."""
        if self.featuriser_ is None:
            return None
        if self._featuriser is None:
            from recloop.data.features import Featuriser

            self._featuriser = Featuriser.from_dict(self.featuriser_)
        return self._featuriser

    def set_featuriser(self, featuriser: Any) -> "BanditPolicy":
        """Turn contexts given as dicts (or lists) into vectors with ``featuriser``, saved with the model."""
        if featuriser is None:
            self.featuriser_, self._featuriser = None, None
            return self
        if self.contextual and featuriser.n_features != self.n_features:
            raise ValueError(f"the featuriser makes {featuriser.n_features} features; {type(self).__name__} "
                             f"expects {self.n_features}")
        self.featuriser_, self._featuriser = featuriser.to_dict(), featuriser
        return self

    # ------------------------------------------------------------ checks
    def _context(self, obs: Any) -> np.ndarray | None:
        if not self.contextual:
            return None
        if self.featuriser_ is not None and obs is not None and not isinstance(obs, np.ndarray):
            obs = self.featuriser.context(obs)  # dict contexts, as the model was fitted
        if obs is None:
            raise ValueError(f"{type(self).__name__} needs a context vector of length {self.n_features}")
        x = np.asarray(obs, dtype=np.float64)
        if x.shape != (self.n_features,):
            raise ValueError(f"context has shape {x.shape}; {type(self).__name__} expects ({self.n_features},)")
        if not np.isfinite(x).all():
            raise ValueError("context contains NaN or infinite values")
        return x

    def _candidate_arms(self, candidates: Any) -> np.ndarray:
        if self.arms_ == 0:
            raise RuntimeError(f"{type(self).__name__} has no arms yet: pass n_arms or call recommend() with candidates")
        if candidates is None:
            return np.arange(self.arms_)
        c = np.asarray(candidates)
        if c.dtype == bool:
            if c.shape != (self.arms_,):
                raise ValueError(f"candidate mask has shape {c.shape}; expected ({self.arms_},)")
            c = np.flatnonzero(c)
        c = c.astype(np.int64, copy=False).ravel()
        if c.size == 0:
            raise ValueError("no candidate arms to choose from")
        if c.min() < 0 or c.max() >= self.arms_:
            raise IndexError(f"candidate arm out of range 0..{self.arms_ - 1}: {c[(c < 0) | (c >= self.arms_)][0]}")
        return c

    def _check_arm(self, action: Any) -> int:
        arm = int(action)
        if arm != action or not 0 <= arm < self.arms_:
            raise IndexError(f"arm {action!r} out of range 0..{self.arms_ - 1}")
        return arm

    @staticmethod
    def _check_reward(reward: Any) -> float:
        r = float(reward)
        if not np.isfinite(r):
            raise ValueError(f"reward must be a finite number, got {reward!r}")
        return r

    # ------------------------------------------------------------ simulation face
    def act(self, obs: Any = None, *, explore: bool = True, candidates: Any = None) -> int:
        """Choose an arm (index). ``explore=False`` picks the best estimated arm."""
        x = self._context(obs)
        arms = self._candidate_arms(candidates)
        if not explore:
            return int(arms[_argmax(self._greedy_scores(x, arms), self.rng_)])
        if self.exploration and self.rng_.random() < self.exploration:
            return int(arms[self.rng_.integers(len(arms))])
        return int(arms[self._choose(x, arms)])

    def probabilities(self, obs: Any = None, *, candidates: Any = None) -> np.ndarray:
        """Probability of choosing each arm now (zeros outside ``candidates``); sums to 1."""
        x = self._context(obs)
        arms = self._candidate_arms(candidates)
        p = np.zeros(self.arms_)
        p[arms] = self._floored(self._probs(x, arms))
        return p

    def update(self, action: Any, reward: float | None = None, obs: Any = None) -> None:
        """Learn from one reward; ``action`` may be an arm index or a :class:`Feedback`."""
        if isinstance(action, Feedback):
            fb = action
            arm = int(self.item_arms([fb.item_id], add=False)[0])
            self._learn(arm, self._check_reward(fb.reward), self._context(fb.context))
            self._seen(arm)
        else:
            if reward is None:
                raise TypeError("update(action, reward, obs): reward is missing")
            self._learn(self._check_arm(action), self._check_reward(reward), self._context(obs))
        self.t_ += 1

    def update_many(self, feedback: Iterable[Feedback]) -> int:
        """Learn from joined serving records in order; returns how many were absorbed.

        Unlike ``update(Feedback)``, an item id never seen before gets a fresh arm: a
        server replaying its log after a restart may meet items first shown after its
        last snapshot. Records are applied one by one, so the learned state depends only
        on the order of the records, never on how a caller batches them (which makes
        snapshot + replay reproduce an uninterrupted run exactly).
        """
        n = 0
        for fb in feedback:
            arm = int(self.item_arms([fb.item_id])[0])
            self._learn(arm, self._check_reward(fb.reward), self._context(fb.context))
            self._seen(arm)
            self.t_ += 1
            n += 1
        return n

    def act_batch(self, obs_batch: Any = None, *, n: int | None = None) -> np.ndarray:
        """One decision per row of ``obs_batch`` (or ``n`` decisions for context-free bandits),
        all made with the current state."""
        if self.contextual:
            X = self._batch_context(obs_batch)
            return np.array([self.act(x) for x in X], dtype=np.int64)
        if n is None:
            n = 1 if obs_batch is None else len(obs_batch)
        return np.array([self.act() for _ in range(n)], dtype=np.int64)

    def update_batch(self, actions: Any, rewards: Any, obs_batch: Any = None, *, item_ids: bool | None = None) -> None:
        """Learn from many rewards at once. ``actions`` are arm indices, or item ids when
        they are not integers (SKU strings) or ``item_ids=True`` (integer ids): ids are
        mapped to arms (new ones added in one step) and the map is saved with the model."""
        a = np.asarray(actions)
        if item_ids or (item_ids is None and a.dtype.kind not in "iu" and a.size
                        and not (a.dtype.kind == "f" and np.array_equal(a, np.round(a)))):
            a = self.item_arms(a.tolist())
            self._seen(a)
        r = np.asarray(rewards, dtype=np.float64)
        if a.ndim != 1 or a.shape != r.shape:
            raise ValueError(f"actions {a.shape} and rewards {r.shape} must be 1-d of equal length")
        if a.size and (a.min() < 0 or a.max() >= self.arms_ or not np.array_equal(a, a.astype(np.int64))):
            raise IndexError(f"arms out of range 0..{self.arms_ - 1}")
        if not np.isfinite(r).all():
            raise ValueError("rewards contain NaN or infinite values")
        X = self._batch_context(obs_batch, len(a)) if self.contextual else None
        self._learn_batch(a.astype(np.int64), r, X)
        self.t_ += len(a)

    def _batch_context(self, obs_batch: Any, n: int | None = None) -> np.ndarray:
        if self.featuriser_ is not None and not isinstance(obs_batch, np.ndarray):
            obs_batch = self.featuriser.contexts(list(obs_batch))
        X = np.asarray(obs_batch, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features or (n is not None and len(X) != n):
            raise ValueError(f"context batch has shape {X.shape}; expected ({n or 'n'}, {self.n_features})")
        if not np.isfinite(X).all():
            raise ValueError("context batch contains NaN or infinite values")
        return X

    # ------------------------------------------------------------ serving face
    def recommend(self, context: Any, candidates: Sequence[Hashable], k: int = 1) -> Recommendation:
        """Choose among ``candidates`` (item ids): the chosen item first, then by score.

        The chosen item is sampled from the policy's distribution, so the logged
        propensity is exactly the probability of what was shown.
        """
        ids = check_candidates(candidates, k)
        x = self._context(context)
        arms = self.item_arms(ids)
        self._seen(arms)
        probs, scores = self._probs_and_greedy(x, arms)
        return rank(ids, self._floored(probs), scores, k, self.rng_)

    def item_probabilities(self, context: Any, candidates: Sequence[Hashable]) -> np.ndarray:
        """Probability that :meth:`recommend` chooses each of ``candidates`` first (item ids, in
        the order given). Each item's probability depends on the set, never on its order."""
        arms = self.item_arms(list(candidates))
        return self._floored(self._probs(self._context(context), arms))

    def item_scores(self, context: Any, candidates: Sequence[Hashable]) -> np.ndarray:
        """Exploitation scores (estimated mean reward) of ``candidates``, in the order given."""
        arms = self.item_arms(list(candidates))
        return self._greedy_scores(self._context(context), arms)

    def fit(self, logs: Any, *, warm_start: bool = True) -> "BanditPolicy":
        """Learn from logged feedback by replaying it in time order (a warm start).

        ``logs`` is a :class:`~recloop.data.logs.LoggedFeedback` (``read_logs`` or a served
        export): the logged items are learned by id (``item_ids`` or ``candidates``), and
        the logs' featuriser is kept, so dict contexts are served as they were fitted.
        Replaying learns each logged reward as if the policy had chosen that item, which is
        what an online learner does; it is not an off-policy correction (see
        :mod:`recloop.ope.learning` for a policy trained to maximise an IPS/DR estimate).
        """
        if getattr(logs, "is_slate", False):
            raise ValueError("fit takes single-item logs; slate logs need a slate policy")
        if not warm_start:
            raise ValueError("fit replays the logs on top of the current state; build a fresh policy to start cold")
        order = np.argsort(logs.timestamp, kind="stable")
        ids = np.asarray(logs.chosen_items())[order]
        if logs.featuriser is not None and self.contextual:
            from recloop.data.features import Featuriser

            self.set_featuriser(Featuriser.from_dict(logs.featuriser))
        X = logs.context[order] if self.contextual else None
        if self.contextual and (X is None or X.shape[1] != self.n_features):
            raise ValueError(f"the logs have {logs.context.shape[1]} context features; "
                             f"{type(self).__name__} expects {self.n_features}")
        self.update_batch(ids, logs.reward[order], X, item_ids=True)
        self.fitted_on_ = fingerprint(logs)
        return self

    def _probs_and_greedy(self, x: np.ndarray | None, arms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Choice probabilities and exploitation scores together (one pass where a policy can)."""
        return self._probs(x, arms), self._greedy_scores(x, arms)

    # ------------------------------------------------------------ params, save, load
    def get_params(self) -> dict[str, Any]:
        sig = inspect.signature(type(self).__init__)
        return {name: getattr(self, name) for name in sig.parameters if name != "self"}

    def state_dict(self) -> dict[str, Any]:
        """The learned state (every attribute ending in ``_``): what :meth:`save` writes."""
        return {k: v for k, v in self.__dict__.items() if k.endswith("_")}

    def save(self, path: Any) -> Any:
        state = self.state_dict()
        state["max_items_"] = self.max_items
        state["exploration_"] = self.exploration
        return persist.save(path, kind="policy", name=self.registry_name, params=self.get_params(), state=state)

    @classmethod
    def load(cls, path: Any) -> "BanditPolicy":
        meta = persist.load(path)
        klass = lookup("policy", meta["name"])
        if not issubclass(cast(type, klass), cls):  # lookup is typed Callable (factories too); a policy name gives a class
            raise TypeError(f"{path} holds a {klass.__name__}, not a {cls.__name__}")
        params = dict(meta["params"])
        params["n_arms"] = None  # arms come back with the state
        obj = klass(**params)
        for k, v in meta["state"].items():
            setattr(obj, k, v)
        obj.n_arms = meta["params"].get("n_arms")
        obj._index = {item: i for i, item in enumerate(obj.item_ids_)}
        obj.set_max_items(meta["state"].get("max_items_"))
        obj.set_exploration(meta["state"].get("exploration_") or 0.0)
        obj.__dict__.pop("max_items_", None)
        obj.__dict__.pop("exploration_", None)
        if len(obj.last_seen_) != obj.arms_:  # files written before the catalogue could be bounded
            obj.last_seen_ = np.zeros(obj.arms_, dtype=np.int64)
        obj._featuriser = None
        obj._restore()
        return obj

    def _restore(self) -> None:
        """Rebuild anything derived from the loaded state (e.g. a network from its arrays)."""

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if v is not None)
        return f"{type(self).__name__}({params})"


def _argmax(scores: np.ndarray, rng: np.random.Generator) -> int:
    best = scores.max()
    ties = np.flatnonzero(scores >= best)
    return int(ties[0]) if len(ties) == 1 else int(ties[rng.integers(len(ties))])


def _argmax_probs(scores: np.ndarray) -> np.ndarray:
    is_best = (scores >= scores.max()).astype(np.float64)
    return is_best / is_best.sum()


#: Monte-Carlo choice probabilities add this many pseudo-wins to every arm (see monte_carlo_probs).
MC_PSEUDO_WINS = 0.5
#: Candidate sets up to this size get the exact Gaussian form; larger ones Monte Carlo.
EXACT_GAUSSIAN_MAX_ARMS = 64


def monte_carlo_probs(sample: Any, n_samples: int, n_arms: int, rng: np.random.Generator) -> np.ndarray:
    """Choice probabilities of a sampling policy: the share of ``n_samples`` posterior
    draws (``sample(n) -> (n, n_arms)``) in which each arm is the argmax.

    A plain share rounds every probability below about ``1 / n_samples`` to 0, yet a
    posterior sample can still choose that arm, and a logged propensity of 0 breaks
    every importance weight. So each arm gets ``MC_PSEUDO_WINS`` extra wins: the
    *floor* is ``0.5 / (n_samples + 0.5 * n_arms)`` (1/4000 with 2000 samples and a few
    arms). ``recommend`` samples the shown item from these very probabilities, so
    the logged propensity is exact for what was shown.
    """
    draws = sample(n_samples)
    winners = draws.argmax(axis=1)
    counts = np.bincount(winners, minlength=n_arms).astype(np.float64) + MC_PSEUDO_WINS
    return counts / counts.sum()


def gaussian_argmax_probs(mean: np.ndarray, sd: np.ndarray, n_samples: int, rng: np.random.Generator,
                          nodes: int = 64) -> np.ndarray:
    """``P(arm i has the largest draw)`` for independent draws ``N(mean_i, sd_i^2)``.

    Exact form ``P_i = E_z[prod_{j != i} Phi((mean_i + sd_i z - mean_j) / sd_j)]``, the
    expectation by Gauss-Hermite quadrature in log space, so probabilities far below
    ``1 / n_samples`` come out positive instead of 0 (Monte Carlo's floor). Above
    ``EXACT_GAUSSIAN_MAX_ARMS`` candidates (cost O(K^2 nodes)) it falls back to
    :func:`monte_carlo_probs`. Zero widths are deterministic scores (ties split evenly).
    """
    mean, sd = np.asarray(mean, np.float64), np.asarray(sd, np.float64)
    k = len(mean)
    if not sd.any():
        return _argmax_probs(mean)
    if k > EXACT_GAUSSIAN_MAX_ARMS:
        return monte_carlo_probs(lambda m: mean + sd * rng.standard_normal((m, k)), n_samples, k, rng)
    from scipy.special import log_ndtr, logsumexp

    z, w = np.polynomial.hermite_e.hermegauss(nodes)  # weight exp(-z^2 / 2); w sums to sqrt(2 pi)
    value = mean[:, None] + sd[:, None] * z[None, :]  # (K, nodes): arm i's draw at node n
    safe_sd = np.where(sd > 0, sd, 1e-300)
    # log Phi((value_i,n - mean_j) / sd_j) for every (i, n, j); a zero width is a step function
    diff = value[:, :, None] - mean[None, None, :]
    arg = np.where(sd[None, None, :] > 0, diff / safe_sd[None, None, :], np.where(diff > 0, np.inf, -np.inf))
    logphi = log_ndtr(arg)
    logphi[np.arange(k), :, np.arange(k)] = 0.0  # j != i
    # ties between deterministic arms: split evenly, as _argmax_probs does
    tie = (sd[None, None, :] == 0) & (sd[:, None, None] == 0) & (diff == 0)
    tie[np.arange(k), :, np.arange(k)] = False
    logphi = np.where(tie, 0.0, logphi)
    log_p = logsumexp(logphi.sum(axis=2) + np.log(w)[None, :], axis=1) - 0.5 * np.log(2 * np.pi)
    n_ties = 1.0 + tie[:, 0, :].sum(axis=1)
    p = np.exp(log_p) / n_ties
    return p / p.sum()
