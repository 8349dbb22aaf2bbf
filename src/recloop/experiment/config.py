"""Experiment configs: YAML validated by pydantic, with errors that name the bad field.

Example:
    >>> cfg = ExperimentConfig.model_validate({
    ...     "env": {"name": "bernoulli", "params": {"means": [0.2, 0.8]}},
    ...     "policies": [{"name": "ucb1"}, {"name": "thompson"}],
    ...     "horizon": 100, "seeds": 3})
    >>> cfg.seeds, [p.label for p in cfg.policies]
    ([0, 1, 2], ['ucb1', 'thompson'])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from recloop.core.config import ConfigError, read_file
from recloop.core.registry import lookup


def _known(kind: str, name: str) -> str:
    try:
        lookup(kind, name)
    except KeyError as err:  # pydantic reports ValueErrors with the field's location
        raise ValueError(err.args[0]) from None
    return name


class EnvSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        return _known("env", name)


class PolicySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    label: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        return _known("policy", name)

    @model_validator(mode="after")
    def _default_label(self) -> "PolicySpec":
        if self.label is None:
            self.label = self.name
        return self


class ExperimentConfig(BaseModel):
    """One experiment: an environment, policies with hyper-parameters, a horizon, seeds, a backend."""

    model_config = ConfigDict(extra="forbid")
    name: str = "experiment"
    env: EnvSpec
    policies: list[PolicySpec] = Field(min_length=1)
    horizon: int = Field(gt=0)
    seeds: list[int] = Field(default_factory=lambda: [0])
    backend: Literal["local", "process", "ray"] = "local"
    n_jobs: int = Field(default=1, ge=1)
    ray_address: str | None = None
    record_every: int | None = Field(default=None, ge=1)

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds(cls, value: Any) -> Any:
        if isinstance(value, int):
            if value < 1:
                raise ValueError("seeds as a count must be >= 1")
            return list(range(value))
        return value

    @model_validator(mode="after")
    def _unique_labels(self) -> "ExperimentConfig":
        labels = [p.label for p in self.policies]
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        if dupes:
            raise ValueError(f"policy labels must be unique; repeated: {', '.join(dupes)} (set 'label')")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds must be unique")
        return self

    @property
    def every(self) -> int:
        return self.record_every or max(1, self.horizon // 500)


def _format(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if e.get("type") == "extra_forbidden":
            msg = "unknown field"
        lines.append(f"  {where}: {msg}")
    return "\n".join(lines)


def parse_config(data: Any, source: str = "config") -> ExperimentConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{source} is invalid:\n{_format(err)}") from None


def read_yaml(path: str | Path, what: str = "config") -> Any:
    """The parsed YAML (or JSON) at ``path``; a missing file or bad syntax is a ConfigError naming the file."""
    return read_file(path, what)


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate a YAML experiment config."""
    return parse_config(read_yaml(path), str(path))


def dump_config(cfg: ExperimentConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
