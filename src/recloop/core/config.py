"""The one config reader: YAML or JSON files and ``KEY=VALUE`` options, with errors that name the file.

Experiment configs, sweep configs, policy configs for ``recloop evaluate`` and
hyper-parameter files for ``recloop train`` are all read here; what each must
contain is validated by its own owner (pydantic models in ``recloop.experiment``).

>>> parse_params(["alpha=0.5", "name=linucb", "hidden=[64, 64]"])
{'alpha': 0.5, 'name': 'linucb', 'hidden': [64, 64]}
>>> parse_params(["alpha"])
Traceback (most recent call last):
...
recloop.core.config.ConfigError: --param needs KEY=VALUE, got 'alpha'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import yaml


class ConfigError(ValueError):
    """A config that cannot be used; the message names the file and, where known, the field."""


def read_file(path: str | Path, what: str = "config") -> Any:
    """The parsed contents of a YAML (``.yaml``/``.yml``, the default) or JSON (``.json``) file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} file not found: {path}")
    text = path.read_text()
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path} is not valid JSON: {err}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None


def read_mapping(path: str | Path, what: str = "config") -> dict[str, Any]:
    """A config file that must hold a mapping at the top level (an empty file is ``{}``)."""
    data = read_file(path, what)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def parse_params(pairs: Iterable[str], option: str = "--param") -> dict[str, Any]:
    """``["alpha=0.5", "head=sac"]`` -> ``{"alpha": 0.5, "head": "sac"}``: values as JSON where they are JSON."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{option} needs KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out
