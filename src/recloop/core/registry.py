"""Named components (policies, environments), so configs and the CLI can say ``ucb1``."""

from __future__ import annotations

import difflib
import importlib
from typing import Any, Callable

_REGISTRY: dict[str, dict[str, Callable[..., Any]]] = {}
_CANONICAL: dict[str, set[str]] = {}  # names without their aliases, for listings

# Modules whose import registers components; imported lazily on first lookup so
# `import recloop` stays cheap and optional extras (torch) load only when asked for.
_PROVIDERS: dict[str, list[str]] = {
    "policy": ["recloop.agents.bandits", "recloop.agents.tabular"],
    "env": ["recloop.envs.bandits", "recloop.envs.gridworld", "recloop.envs.trading", "recloop.envs.tabular_reco",
            "recloop.envs.slate", "recloop.envs.movielens"],
    "agent": ["recloop.agents.deep"],
    # Next-item recommenders on logged sequences (MovieLens); torch loads only when one is built.
    "recommender": ["recloop.agents.reco"],
}
_loaded: set[str] = set()


def register(kind: str, name: str, *aliases: str) -> Callable[[Any], Any]:
    """Class/function decorator: ``@register("policy", "ucb1")``."""

    def deco(obj: Any) -> Any:
        table = _REGISTRY.setdefault(kind, {})
        for key in (name, *aliases):
            table[key.lower()] = obj
        _CANONICAL.setdefault(kind, set()).add(name.lower())
        obj.registry_name = name
        return obj

    return deco


def add_provider(kind: str, module: str) -> None:
    """Let a module (maybe from an extra) contribute components of ``kind``."""
    mods = _PROVIDERS.setdefault(kind, [])
    if module not in mods:
        mods.append(module)


def _load(kind: str) -> None:
    for module in _PROVIDERS.get(kind, []):
        if module in _loaded:
            continue
        try:
            importlib.import_module(module)
        except ImportError as err:  # an optional extra is missing: its names stay unknown
            if not getattr(err, "name", "") or err.name.split(".")[0] == "recloop":
                raise
        _loaded.add(module)


def names(kind: str, aliases: bool = False) -> list[str]:
    """Registered names of ``kind`` (with ``aliases``, every accepted spelling)."""
    _load(kind)
    return sorted(_REGISTRY.get(kind, {}) if aliases else _CANONICAL.get(kind, ()))


def lookup(kind: str, name: str) -> Callable[..., Any]:
    _load(kind)
    table = _REGISTRY.get(kind, {})
    key = str(name).lower()
    if key not in table:
        close = difflib.get_close_matches(key, table, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        known = ", ".join(sorted(_CANONICAL.get(kind, ()))) or "none"
        raise KeyError(f"unknown {kind} {name!r}.{hint} Known: {known}")
    return table[key]


def make(kind: str, name: str, **params: Any) -> Any:
    """Build a registered component by name with keyword hyper-parameters."""
    factory = lookup(kind, name)
    try:
        return factory(**params)
    except TypeError as err:
        raise TypeError(f"{kind} {name!r}: {err}") from err
