"""Schedules for exploration rates and step sizes: value as a function of the step t >= 0."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Constant:
    value: float

    def __call__(self, t: int) -> float:
        return self.value


@dataclass(frozen=True)
class Linear:
    """From ``start`` to ``end`` over ``steps`` steps, then flat."""

    start: float
    end: float
    steps: int

    def __call__(self, t: int) -> float:
        frac = min(max(t, 0) / max(self.steps, 1), 1.0)
        return self.start + frac * (self.end - self.start)


@dataclass(frozen=True)
class Exponential:
    """``start * decay**t``, never below ``end``."""

    start: float
    decay: float
    end: float = 0.0

    def __call__(self, t: int) -> float:
        return max(self.end, self.start * self.decay ** max(t, 0))


@dataclass(frozen=True)
class InverseTime:
    """``min(start, scale / (t + 1))``: the 1/t decay under which epsilon-greedy is consistent."""

    scale: float
    start: float = 1.0

    def __call__(self, t: int) -> float:
        return min(self.start, self.scale / (max(t, 0) + 1))


def schedule(spec: float | dict | object) -> Callable[[int], float]:
    """Build a schedule from a number (constant) or a dict ``{"kind": "linear", ...}``."""
    if callable(spec):
        return spec
    if isinstance(spec, (int, float)):
        return Constant(float(spec))
    if isinstance(spec, dict):
        kinds = {"constant": Constant, "linear": Linear, "exponential": Exponential, "inverse_time": InverseTime}
        params = dict(spec)
        kind = params.pop("kind", None)
        if kind not in kinds:
            raise ValueError(f"unknown schedule kind {kind!r}; use one of {sorted(kinds)}")
        return kinds[kind](**params)
    raise TypeError(f"a schedule is a number, a dict with 'kind', or a callable; got {spec!r}")
