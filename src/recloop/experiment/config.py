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

import importlib
import os
import sys
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from recloop.core.config import ConfigError, read_file
from recloop.core.registry import lookup
from recloop.experiment.families import is_gym_id, policy_family


def import_plugins(modules: list[str] | tuple[str, ...], folders: tuple[str, ...] = ()) -> None:
    """Import a config's ``plugins`` (modules that register envs / policies), from ``folders``
    and the working directory as well as the installed packages."""
    for folder in (*folders, os.getcwd()):
        if folder not in sys.path:
            sys.path.append(folder)
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as err:  # a broken plugin is the config's problem: name it
            raise ValueError(f"cannot import plugin {module!r}: {type(err).__name__}: {err}") from None


class EnvSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        try:
            lookup("env", name)
        except KeyError as err:
            if is_gym_id(name):  # deep agents also run on Gymnasium's worlds (CartPole-v1)
                return name
            raise ValueError(f"{err.args[0]} (deep agents also take Gymnasium ids, e.g. CartPole-v1)") from None
        return name


class PolicySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    label: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        try:
            policy_family(name)  # bandit and tabular policies, deep agents, slate policies (no torch import)
        except KeyError as err:
            try:
                lookup("recommender", name)
            except (KeyError, ImportError):
                pass
            else:
                raise ValueError(f"{name!r} is a next-item recommender (recloop list recommender): it learns from "
                                 f"logged sequences, not by acting in an env; use `recloop movielens train {name}`"
                                 ) from None
            raise ValueError(f"{err.args[0]} (deep agents: recloop list agent; slate policies: "
                             "slateq, myopic-slate, full-slate-dqn, random-slate, popularity-slate)") from None
        return name

    @model_validator(mode="after")
    def _default_label(self) -> "PolicySpec":
        if self.label is None:
            self.label = self.name
        return self


class ExperimentConfig(BaseModel):
    """One experiment: an environment, policies with hyper-parameters, a horizon, seeds, a backend."""

    model_config = ConfigDict(extra="forbid")
    name: str = "experiment"
    plugins: list[str] = Field(default_factory=list)  # modules imported first: a user's own envs / policies
    env: EnvSpec
    policies: list[PolicySpec] = Field(min_length=1)
    horizon: int = Field(gt=0)
    seeds: list[int] = Field(default_factory=lambda: [0])
    backend: Literal["local", "process", "ray"] = "local"
    n_jobs: int = Field(default=1, ge=1)
    ray_address: str | None = None
    record_every: int | None = Field(default=None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _import_plugins(cls, data: Any, info: ValidationInfo) -> Any:
        """Before the names are checked: a plugin registers the names it brings."""
        if isinstance(data, dict) and isinstance(data.get("plugins"), list):
            folders = tuple((info.context or {}).get("folders", ()))
            import_plugins([str(m) for m in data["plugins"]], folders)
        return data

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


def parse_config(data: Any, source: str = "config", folders: tuple[str, ...] = ()) -> ExperimentConfig:
    """Validate a config mapping; ``folders`` are searched for its plugins (besides the working directory)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return ExperimentConfig.model_validate(data, context={"folders": folders})
    except ValidationError as err:
        raise ConfigError(f"{source} is invalid:\n{_format(err)}") from None


def read_yaml(path: str | Path, what: str = "config") -> Any:
    """The parsed YAML (or JSON) at ``path``; a missing file or bad syntax is a ConfigError naming the file."""
    return read_file(path, what)


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate a YAML experiment config (its plugins may sit beside it)."""
    return parse_config(read_yaml(path), str(path), (str(Path(path).resolve().parent),))


def dump_config(cfg: ExperimentConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
