"""The Personalizer loop's model: one linear scorer over (context, action) features.

Personalizer learns what Vowpal Wabbit's ``--cb_explore_adf`` learns: a single
model shared by every action, scoring the hashed features of the context, the
action and their products (VW's ``-q``), and explores epsilon-greedily
(``explorationPercentage``). Here the features come from the shared
:class:`~recloop.data.features.Featuriser`; the scorer regresses the observed
reward of the shown action (VW's ``--cb_type dm``) with a normalised step
(the prediction for the updated row moves by at most ``learning_rate`` times the
error, so no setting diverges) decayed per coordinate as ``count^-power_t``
(frequent features settle, rare ones keep learning: AdaGrad's idea with counts).

Apprentice mode adds imitation: the baseline action's score is pushed above every
other candidate's by ``imitation_margin`` (a passive-aggressive hinge step,
Crammer et al. 2006), so the model learns to choose what the application would
have chosen while it also learns the baseline's reward.

Example:
    >>> m = LinearCB(n_features=256, seed=0)
    >>> ctx = {"user": {"tier": "gold"}}
    >>> acts = [{"genre": "news"}, {"genre": "sport"}]
    >>> for _ in range(30):
    ...     m.learn(m.features(ctx, acts), chosen=1, reward=1.0)
    ...     m.learn(m.features(ctx, acts), chosen=0, reward=0.0)
    >>> s = m.scores(m.features(ctx, acts)); bool(s[1] > s[0] + 0.5)
    True
    >>> epsilon_greedy(s, 0.2).round(2).tolist()
    [0.1, 0.9]
"""

from __future__ import annotations

import hashlib
import shlex
from typing import Any, Sequence

import numpy as np

from recloop.core import persist
from recloop.data.features import Featuriser

KIND = "personalizer-model"
DEFAULTS: dict[str, Any] = {"n_features": 2**12, "interactions": True, "learning_rate": 0.5, "power_t": 0.5,
                            "l2": 0.0, "imitation_margin": 0.5, "seed": 0}
DEFAULT_POLICY_NAME = "recloop linear epsilon-greedy"


class LinearCB:
    """Shared linear contextual bandit over :class:`Featuriser` joint features."""

    contextual = False  # for OnlineLearner: no dense context vector of a fixed length
    item_ids_: list = []  # actions are known by their features, not by per-item state
    known_items: list = []

    def __init__(self, *, n_features: int = 2**12, interactions: bool = True, learning_rate: float = 0.5,
                 power_t: float = 0.5, l2: float = 0.0, imitation_margin: float = 0.5, seed: int = 0):
        if not 0 < learning_rate <= 1:
            raise ValueError(f"learning_rate must be in (0, 1], got {learning_rate!r}")
        if not 0 <= power_t <= 1:
            raise ValueError(f"power_t must be in [0, 1], got {power_t!r}")
        if not l2 >= 0 or not imitation_margin >= 0:
            raise ValueError("l2 and imitation_margin must be >= 0")
        self.featuriser = Featuriser(n_features, interactions, seed)  # checks n_features and seed
        self.n_features, self.interactions, self.seed = int(n_features), bool(interactions), int(seed)
        self.learning_rate, self.power_t, self.l2 = float(learning_rate), float(power_t), float(l2)
        self.imitation_margin = float(imitation_margin)
        self.w_ = np.zeros(self.featuriser.dim)
        self.n_ = np.zeros(self.featuriser.dim)  # how often each coordinate was updated
        self.s_ = np.zeros(self.featuriser.dim)  # the largest |value| each coordinate has carried
        self.t_ = 0

    # ------------------------------------------------------------ settings
    def get_params(self) -> dict[str, Any]:
        return {"n_features": self.n_features, "interactions": self.interactions,
                "learning_rate": self.learning_rate, "power_t": self.power_t, "l2": self.l2,
                "imitation_margin": self.imitation_margin, "seed": self.seed}

    def same_features(self, params: dict[str, Any]) -> bool:
        """True when ``params`` keep this model's feature space (its weights stay meaningful)."""
        return all(params.get(k, DEFAULTS[k]) == getattr(self, k) for k in ("n_features", "interactions", "seed"))

    def with_params(self, params: dict[str, Any]) -> "LinearCB":
        """A model with ``params``: the learned weights carry over when the feature space is the same."""
        new = LinearCB(**{**DEFAULTS, **params})
        if self.same_features(params):
            new.w_, new.n_, new.s_, new.t_ = self.w_.copy(), self.n_.copy(), self.s_.copy(), self.t_
        return new

    # ------------------------------------------------------------ scoring
    def features(self, context: dict, actions: Sequence[Any], keys: Sequence[Any] | None = None) -> "Rows":
        """One sparse row per action (a constant ``_.bias`` gives the model intercepts); ``keys``:
        see :meth:`Featuriser.joint_sparse`."""
        r, i, v = self.featuriser.joint_sparse({"_": {"bias": 1.0}, **context}, list(actions), keys)
        return Rows(len(actions), r, i, v)

    def scores(self, X: "Rows") -> np.ndarray:
        return np.bincount(X.rows, weights=self.w_[X.idx] * X.val, minlength=X.n)

    @property
    def key(self) -> tuple:
        """What features depend on: rows made by a model with the same key fit this one."""
        return (self.n_features, self.interactions, self.seed)

    @staticmethod
    def rows(X: "Rows", which: Sequence[int] | None = None) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Rows of ``X`` (all, or ``which``) as (indices, values): what learning needs."""
        bounds = np.searchsorted(X.rows, np.arange(X.n + 1))
        return {int(j): (X.idx[bounds[j]:bounds[j + 1]], X.val[bounds[j]:bounds[j + 1]])
                for j in (range(X.n) if which is None else which)}

    # ------------------------------------------------------------ learning
    def _step(self, idx: np.ndarray, val: np.ndarray, target: float) -> None:
        """Move the prediction for this row by ``target`` (at rate 1): each coordinate in
        units of the largest value it has carried, so a feature of 1000s and a one-hot
        learn alike (VW's --normalized), decayed by how often it was updated."""
        self.s_[idx] = np.maximum(self.s_[idx], np.abs(val))
        u = val / self.s_[idx]
        self.n_[idx] += 1
        if self.l2:
            self.w_ *= 1.0 - self.learning_rate * self.l2
        self.w_[idx] += target / max(float(u @ u), 1e-12) * self.n_[idx] ** -self.power_t * u / self.s_[idx]

    def learn(self, X: "Rows", chosen: int, reward: float, baseline: int | None = None) -> None:
        """Regress ``reward`` on the row of the shown action; with ``baseline`` (Apprentice
        mode) also rank the baseline first by ``imitation_margin``."""
        self.learn_rows(self.rows(X, None if baseline is not None else [chosen]), X.n, chosen, reward, baseline)

    def learn_rows(self, rows: dict, n: int, chosen: int, reward: float, baseline: int | None = None) -> None:
        """:meth:`learn` on sparse rows (the chosen one; every one when ``baseline`` is given)."""
        idx, val = rows[chosen]
        err = float(reward) - float(self.w_[idx] @ val)
        self._step(idx, val, self.learning_rate * err)
        if baseline is not None and n > 1:
            s = np.array([self.w_[rows[j][0]] @ rows[j][1] for j in range(n)])
            rival = int(np.argmax(np.where(np.arange(n) == baseline, -np.inf, s)))
            gap = self.imitation_margin - (s[baseline] - s[rival])
            if gap > 0:
                (bi, bv), (ri, rv) = rows[baseline], rows[rival]
                d = np.zeros(len(self.w_))
                np.add.at(d, bi, bv)
                np.add.at(d, ri, -rv)
                di = np.flatnonzero(d)
                dv = d[di]
                self._step(di, dv, self.learning_rate * gap)
        self.t_ += 1

    def update_many(self, feedback: Any) -> int:
        """Learn from joined Personalizer records in order (OnlineLearner's interface):
        Online events teach the reward of the shown action; Apprentice events also
        imitate the baseline; LoggingOnly events teach nothing."""
        n = 0
        for fb in feedback:
            if fb.mode == "LoggingOnly":
                continue
            ids = fb.request["slots"][fb.slot_index]["eligible"]
            chosen = ids.index(fb.chosen)
            baseline = ids.index(fb.baseline) if fb.mode == "Apprentice" and fb.baseline in ids else None
            cached = getattr(fb, "rows", None)  # the rows featurised at rank time, when still at hand
            if (cached is not None and cached[0] == self.key and chosen in cached[1]
                    and (baseline is None or len(cached[1]) == len(ids))):
                rows = cached[1]
            else:
                ctx, _, feats = slot_inputs(fb.request, fb.slot_index)
                X = self.features(ctx, feats)
                rows = self.rows(X, None if baseline is not None else [chosen])
            self.learn_rows(rows, len(ids), chosen, fb.reward, baseline)
            n += 1
        return n

    # ------------------------------------------------------------ save / load
    def save(self, path: Any) -> Any:
        return persist.save(path, kind=KIND, name="linear-cb", params=self.get_params(),
                            state={"w_": self.w_, "n_": self.n_, "s_": self.s_, "t_": self.t_,
                                   "featuriser": self.featuriser.to_dict()})

    @classmethod
    def load(cls, path: Any) -> "LinearCB":
        meta = persist.load(path)
        if meta.get("kind") != KIND:
            raise ValueError(f"{path} holds a {meta.get('kind')!r}, not a Personalizer model")
        model = cls(**meta["params"])
        state = meta["state"]
        if Featuriser.from_dict(state["featuriser"]) != model.featuriser:
            raise ValueError("the model's featuriser does not match its parameters")
        w, n, sc = (np.asarray(state[k], dtype=np.float64) for k in ("w_", "n_", "s_"))
        if not (w.shape == n.shape == sc.shape == model.w_.shape) or not np.isfinite(w).all():
            raise ValueError(f"weights of shape {w.shape}; the parameters need {model.w_.shape}")
        model.w_, model.n_, model.s_, model.t_ = w, n, sc, int(state["t_"])
        return model


class Rows:
    """Sparse feature rows of one request's actions: row numbers (sorted), indices, values."""

    __slots__ = ("n", "rows", "idx", "val")

    def __init__(self, n: int, rows: np.ndarray, idx: np.ndarray, val: np.ndarray):
        self.n, self.rows, self.idx, self.val = n, rows, idx, val

    def __len__(self) -> int:
        return self.n


def slot_inputs(request: dict, k: int) -> tuple[dict, list[str], list[Any]]:
    """Context, eligible action ids and their features of slot ``k`` of a stored request
    (``{"context", "actions": {id: features}, "slots": [{"id", "features", "eligible"}]}``)."""
    slot = request["slots"][k]
    ctx = request["context"]
    if slot.get("features"):
        ctx = {**ctx, "_slot": slot["features"]}
    ids = slot["eligible"]
    return ctx, ids, [request["actions"][i] for i in ids]


def epsilon_greedy(scores: np.ndarray, epsilon: float) -> np.ndarray:
    """Choice probabilities: ``epsilon`` spread evenly, the rest on the best score (ties share)."""
    n = len(scores)
    best = scores >= scores.max() - 1e-12
    return epsilon / n + (1.0 - epsilon) * best / best.sum()


def draw(probs: np.ndarray, key: str) -> int:
    """The action drawn for event ``key``: the event id seeds the draw (as Personalizer
    does), so a retried rank gives the same answer."""
    u = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") / 2.0**64
    return min(int(np.searchsorted(np.cumsum(probs), u, side="right")), len(probs) - 1)


# ---------------------------------------------------------------- learning settings as text
# VW flags Personalizer users have in their "arguments", and what they mean here.
_VW_VALUE = {"-l": "learning_rate", "--learning_rate": "learning_rate", "--power_t": "power_t", "--l2": "l2"}
_VW_IGNORED_FLAGS = {"--cb_explore_adf", "--cb_adf", "--dsjson", "--quiet", "--preserve_performance_counters",
                     "--save_resume", "--first_only", "--coin", "--ignore_linear"}
_VW_IGNORED_VALUE = {"--epsilon", "--cb_type", "--interactions_limit", "--id", "-c", "--passes", "--ignore",
                     "--ignore_linear", "--power", "--initial_t", "--bag", "--cover", "--softmax", "--lambda"}


def parse_arguments(text: str) -> dict[str, Any]:
    """Learning settings from ``"learning_rate=0.5 interactions=true"`` or VW flags
    (``-l 0.5 -b 14 -q ::``; exploration comes from explorationPercentage, not --epsilon)."""
    out: dict[str, Any] = {}
    tokens = shlex.split(text or "")
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if "=" in tok and not tok.startswith("-"):
            key, value = tok.split("=", 1)
            if key not in DEFAULTS:
                raise ValueError(f"unknown learning setting {key!r}; known: {', '.join(DEFAULTS)}")
            out[key] = _value(key, value)
        elif tok in _VW_VALUE and nxt is not None:
            out[_VW_VALUE[tok]] = _value(_VW_VALUE[tok], nxt)
            i += 1
        elif tok in ("-b", "--bit_precision") and nxt is not None:
            out["n_features"] = 2 ** int(nxt)
            i += 1
        elif tok in ("-q", "--quadratic", "--interactions") and nxt is not None:
            out["interactions"] = True
            i += 1
        elif tok in _VW_IGNORED_VALUE and nxt is not None:
            i += 1
        elif tok not in _VW_IGNORED_FLAGS:
            raise ValueError(f"learning setting {tok!r} is not understood (use name=value with "
                             f"{', '.join(DEFAULTS)}, or VW's -l, --power_t, --l2, -b, -q)")
        i += 1
    LinearCB(**{**DEFAULTS, **out})  # range checks, with the model's own messages
    return out


def format_arguments(params: dict[str, Any]) -> str:
    p = {**DEFAULTS, **params}
    return " ".join(f"{k}={str(p[k]).lower() if isinstance(p[k], bool) else p[k]}" for k in DEFAULTS)


def _value(key: str, text: str) -> Any:
    kind = type(DEFAULTS[key])
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "1")
        return kind(float(text)) if kind is int else kind(text)
    except ValueError:
        raise ValueError(f"learning setting {key}={text!r} is not a valid {kind.__name__}") from None
