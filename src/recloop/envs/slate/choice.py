"""User choice models: which item of a slate (if any) a user clicks.

Each model maps affinity scores ``[..., slate_size]`` (the user's score of each
shown item, in slate order) to probabilities ``[..., slate_size + 1]`` whose last
column is the probability of clicking nothing. The models and their parameters
follow RecSim's ``recsim/choice_model.py`` (Ie et al., "RecSim: A Configurable
Simulation Platform for Recommender Systems", 2019); here they work on whole
batches at once and check their input instead of asserting.

Examples
--------
>>> import numpy as np
>>> m = MultinomialProportional(no_click_mass=1.0, min_normalizer=-1.0)
>>> m.probabilities(np.array([[0.0, 1.0]])).round(3).tolist()
[[0.2, 0.4, 0.4]]
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class ChoiceModel(ABC):
    """How a user picks at most one item from a slate."""

    #: True when the probability of an item does not depend on its position (MNL,
    #: proportional); slate optimisers then search sets instead of orderings.
    position_invariant: bool = True

    @abstractmethod
    def probabilities(self, affinities: np.ndarray) -> np.ndarray:
        """``[..., S]`` affinities -> ``[..., S + 1]`` choice probabilities (last = no click)."""

    def item_utility(self, affinity: np.ndarray) -> np.ndarray:
        """The model's unnormalised score of one item on its own (RecSim's ``expected_utility``)."""
        return self.probabilities(np.asarray(affinity, dtype=np.float64)[..., None])[..., 0]

    def get_params(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def sample_choices(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF sampling, one uniform per row: index in ``0..S`` (``S`` = no click)."""
    cdf = np.cumsum(probs, axis=-1)
    choice = (cdf < u[..., None] * cdf[..., -1:]).sum(axis=-1)
    return np.minimum(choice, probs.shape[-1] - 1)


class MultinomialLogit(ChoiceModel):
    """``p(i) = exp(a_i) / (sum_j exp(a_j) + exp(no_click_mass))`` (conditional logit).

    ``no_click_mass=-inf`` (RecSim's default) means the user always clicks.
    """

    def __init__(self, *, no_click_mass: float = float("-inf")):
        if np.isnan(no_click_mass) or no_click_mass == float("inf"):
            raise ValueError(f"no_click_mass must be a finite float or -inf, got {no_click_mass!r}")
        self.no_click_mass = float(no_click_mass)

    def probabilities(self, affinities: np.ndarray) -> np.ndarray:
        a = np.asarray(affinities, dtype=np.float64)
        logits = np.concatenate([a, np.full(a.shape[:-1] + (1,), self.no_click_mass)], axis=-1)
        logits = logits - logits.max(axis=-1, keepdims=True)  # softmax stability, as RecSim does
        e = np.exp(logits)
        return e / e.sum(axis=-1, keepdims=True)


class MultinomialProportional(ChoiceModel):
    """``p(i) ∝ a_i - min_normalizer``, with a no-click option of mass ``no_click_mass - min_normalizer``.

    RecSim's interest-evolution model: affinities in [-1, 1], ``min_normalizer=-1``
    and ``no_click_mass=1`` so that not clicking weighs as much as a perfect match.
    """

    def __init__(self, *, no_click_mass: float = 1.0, min_normalizer: float = -1.0):
        if not np.isfinite(no_click_mass) or no_click_mass - min_normalizer < 0:
            raise ValueError(f"no_click_mass - min_normalizer must be >= 0, got {no_click_mass} - {min_normalizer}")
        if not np.isfinite(min_normalizer) or min_normalizer > 0:
            raise ValueError(f"min_normalizer must be a finite float <= 0, got {min_normalizer!r}")
        self.no_click_mass = float(no_click_mass)
        self.min_normalizer = float(min_normalizer)

    def probabilities(self, affinities: np.ndarray) -> np.ndarray:
        a = np.asarray(affinities, dtype=np.float64)
        shifted = np.empty(a.shape[:-1] + (a.shape[-1] + 1,))
        np.subtract(a, self.min_normalizer, out=shifted[..., :-1])
        shifted[..., -1] = self.no_click_mass - self.min_normalizer
        if (shifted[..., :-1] < 0).any():
            raise ValueError(
                f"affinity below min_normalizer={self.min_normalizer}: min was {a.min():.4g}; "
                "proportional choice needs non-negative shifted scores")
        total = shifted.sum(axis=-1, keepdims=True)
        if (total <= 0).any():
            raise ValueError("all shifted scores are zero: no choice distribution exists")
        return shifted / total

    def item_utility(self, affinity: np.ndarray) -> np.ndarray:
        # RecSim scores one document alone as its shifted (unnormalised) score.
        return np.asarray(affinity, dtype=np.float64) - self.min_normalizer


class Cascade(ChoiceModel):
    """The user scans the slate in order and stops at the first click.

    Item ``i`` is examined with probability ``attention_prob`` (given the ones
    before were not clicked) and then clicked with probability
    ``score_scaling * f(a_i)``, where ``f`` is ``exp`` (``kind="exponential"``,
    RecSim's ExponentialCascade) or ``a - min_normalizer`` (``kind="proportional"``).
    """

    position_invariant = False

    def __init__(self, *, attention_prob: float = 1.0, score_scaling: float = 1.0,
                 kind: str = "exponential", min_normalizer: float = 0.0):
        if not 0.0 <= attention_prob <= 1.0:
            raise ValueError(f"attention_prob must be in [0, 1], got {attention_prob!r}")
        if not (np.isfinite(score_scaling) and score_scaling >= 0):
            raise ValueError(f"score_scaling must be a finite float >= 0, got {score_scaling!r}")
        if kind not in ("exponential", "proportional"):
            raise ValueError(f"kind must be 'exponential' or 'proportional', got {kind!r}")
        self.attention_prob = float(attention_prob)
        self.score_scaling = float(score_scaling)
        self.kind = kind
        self.min_normalizer = float(min_normalizer)

    def probabilities(self, affinities: np.ndarray) -> np.ndarray:
        a = np.asarray(affinities, dtype=np.float64)
        f = np.exp(a) if self.kind == "exponential" else a - self.min_normalizer
        click = self.score_scaling * f
        if (click < 0).any() or (click > 1).any():
            raise ValueError(
                f"score_scaling * score must lie in [0, 1] to be a click probability; got range "
                f"[{click.min():.4g}, {click.max():.4g}]")
        p = self.attention_prob * click
        survive = np.cumprod(1.0 - p, axis=-1)
        out = np.empty(a.shape[:-1] + (a.shape[-1] + 1,))
        out[..., 0] = p[..., 0] if a.shape[-1] else 1.0
        out[..., 1:-1] = survive[..., :-1] * p[..., 1:]
        out[..., -1] = survive[..., -1] if a.shape[-1] else 1.0
        return out


CHOICE_MODELS = {"multinomial_logit": MultinomialLogit, "multinomial_proportional": MultinomialProportional,
                 "cascade": Cascade}


def choice_model(spec: ChoiceModel | str | dict) -> ChoiceModel:
    """A choice model from an instance, a name, or ``{"name": ..., **params}``."""
    if isinstance(spec, ChoiceModel):
        return spec
    params = {}
    if isinstance(spec, dict):
        params = dict(spec)
        spec = params.pop("name", "")
    try:
        cls = CHOICE_MODELS[str(spec).lower().replace("-", "_")]
    except KeyError:
        raise ValueError(f"unknown choice model {spec!r}; known: {', '.join(CHOICE_MODELS)}") from None
    return cls(**params)
