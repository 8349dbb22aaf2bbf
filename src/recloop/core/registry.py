"""Named components (policies, environments, agents, recommenders): the one registry.

Configs, the CLI, the service and OPE all say ``ucb1`` and build it through
:func:`build`. Each package fills the registry itself, in one of two ways:

- ``@register("policy", "ucb1")`` on a class, when importing its module is cheap;
- ``declare("agent", "dqn", "recloop.agents.deep.dqn:DQN", summary=...)`` in the
  package's ``__init__``, when the class needs a heavy import (torch): the name is
  listed at once and the module is imported only when the component is built.

Examples
--------
>>> from recloop.core import registry
>>> policy = registry.build("policy", "epsilon-greedy", {"epsilon": 0.2}, n_arms=3, n_features=5, seed=0)
>>> type(policy).__name__, policy.n_arms         # n_features is not one of its parameters: not passed
('EpsilonGreedy', 3)
>>> registry.build("policy", "epsilon-greedy", {"epsilonn": 0.2}, n_arms=3)
Traceback (most recent call last):
...
TypeError: policy 'epsilon-greedy' has no hyper-parameter 'epsilonn' (did you mean 'epsilon'?); it takes: ...
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from dataclasses import dataclass
from typing import Any, Callable

_REGISTRY: dict[str, dict[str, Any]] = {}  # kind -> spelling -> object or _Lazy
_CANONICAL: dict[str, set[str]] = {}  # names without their aliases, for listings

# Modules whose import registers components; imported on first lookup so `import recloop`
# stays cheap and optional extras load only when asked for.
_PROVIDERS: dict[str, list[str]] = {
    "policy": ["recloop.agents.bandits", "recloop.agents.tabular", "recloop.agents.slate"],
    "env": ["recloop.envs.bandits", "recloop.envs.gridworld", "recloop.envs.trading", "recloop.envs.tabular_reco",
            "recloop.envs.slate", "recloop.envs.movielens"],
    "agent": ["recloop.agents.deep"],
    "recommender": ["recloop.agents.reco"],
}
_loaded: set[str] = set()


@dataclass(frozen=True, slots=True)
class _Lazy:
    """A declared component: ``"module:attr"``, imported when first built or looked up."""

    name: str
    target: str
    summary: str


def _add(kind: str, name: str, aliases: tuple[str, ...], obj: Any) -> None:
    table = _REGISTRY.setdefault(kind, {})
    for key in (name, *aliases):
        table[key.lower()] = obj
    _CANONICAL.setdefault(kind, set()).add(name.lower())


def register(kind: str, name: str, *aliases: str) -> Callable[[Any], Any]:
    """Class/function decorator: ``@register("policy", "ucb1")``."""

    def deco(obj: Any) -> Any:
        _add(kind, name, aliases, obj)
        obj.registry_name = name
        return obj

    return deco


def declare(kind: str, name: str, target: str, *aliases: str, summary: str = "") -> None:
    """Register ``target`` (``"package.module:Class"``) under ``name`` without importing it."""
    if ":" not in target:
        raise ValueError(f"declare({kind!r}, {name!r}): target must be 'module:attr', got {target!r}")
    _add(kind, name, aliases, _Lazy(name, target, summary))


def add_provider(kind: str, module: str) -> None:
    """Let a module (a plugin, or an extra) contribute components of ``kind`` when it is imported."""
    mods = _PROVIDERS.setdefault(kind, [])
    if module not in mods:
        mods.append(module)
        _loaded.discard(module)


def kinds() -> list[str]:
    return sorted(set(_PROVIDERS) | set(_REGISTRY))


def _load(kind: str) -> None:
    if kind not in _PROVIDERS and kind not in _REGISTRY:
        raise KeyError(f"unknown component kind {kind!r}; known kinds: {', '.join(kinds())}")
    for module in _PROVIDERS.get(kind, []):
        if module in _loaded:
            continue
        try:
            importlib.import_module(module)
        except ImportError as err:  # an optional extra is missing: its names stay unknown
            if not err.name or err.name.split(".")[0] == "recloop":
                raise
        _loaded.add(module)


def names(kind: str, aliases: bool = False) -> list[str]:
    """Registered names of ``kind`` (with ``aliases``, every accepted spelling)."""
    _load(kind)
    return sorted(_REGISTRY.get(kind, {}) if aliases else _CANONICAL.get(kind, ()))


def _resolve(kind: str, entry: _Lazy) -> Any:
    module, attr = entry.target.split(":")
    obj = getattr(importlib.import_module(module), attr)
    try:
        obj.registry_name = entry.name
    except (AttributeError, TypeError):  # a builtin or a slotted object: it simply has no name attribute
        pass
    table = _REGISTRY[kind]
    for key, value in list(table.items()):
        if value is entry:
            table[key] = obj
    return obj


def lookup(kind: str, name: str) -> Callable[..., Any]:
    """The registered class or factory; a ``KeyError`` with close matches for an unknown name."""
    _load(kind)
    table = _REGISTRY.get(kind, {})
    key = str(name).lower()
    if key not in table:
        close = difflib.get_close_matches(key, table, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        known = ", ".join(sorted(_CANONICAL.get(kind, ()))) or "none"
        raise KeyError(f"unknown {kind} {name!r}.{hint} Known: {known}")
    entry = table[key]
    return _resolve(kind, entry) if isinstance(entry, _Lazy) else entry


def summary(kind: str, name: str) -> str:
    """The first line of a component's docstring, without importing a declared one."""
    _load(kind)
    entry = _REGISTRY.get(kind, {}).get(str(name).lower())
    if isinstance(entry, _Lazy):
        return entry.summary
    doc = (lookup(kind, name).__doc__ or "").strip().splitlines()
    return doc[0] if doc else ""


def target(kind: str, name: str) -> str:
    """``module:attr`` of a component, without importing a declared one."""
    _load(kind)
    entry = _REGISTRY.get(kind, {}).get(str(name).lower())
    if isinstance(entry, _Lazy):
        return entry.target
    obj = lookup(kind, name)
    return f"{obj.__module__}:{obj.__qualname__}"


def name_of(obj: Any) -> str:
    """The registered name of a component class or instance (``DQN`` -> ``"dqn"``)."""
    cls = obj if isinstance(obj, type) else type(obj)
    # the class's own name only: a subclass (DiscreteCQL of DQN) must not save under its parent's
    registered: str | None = cls.__dict__.get("registry_name")
    if registered:
        return registered
    where = f"{cls.__module__}:{cls.__qualname__}"
    for table in _REGISTRY.values():
        for entry in table.values():
            if isinstance(entry, _Lazy) and entry.target == where:
                return entry.name
    raise KeyError(f"{cls.__qualname__} is not a registered component")


def parameters(factory: Callable[..., Any]) -> list[str]:
    """The keyword parameters a class or factory takes (``**kwargs`` factories take anything)."""
    sig = inspect.signature(factory)
    return [p.name for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _takes_anything(factory: Callable[..., Any]) -> bool:
    return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(factory).parameters.values())


def check_params(kind: str, name: str, params: Any, *, hidden: tuple[str, ...] = ()) -> None:
    """A ``TypeError`` naming the first key of ``params`` that component ``name`` does not take,
    the closest spelling it does take, and all it takes (less ``hidden``, the ones filled for the user)."""
    factory = lookup(kind, name)
    if _takes_anything(factory):
        return
    takes = [p for p in parameters(factory) if p not in hidden]
    for key in params:
        if key not in takes:
            close = difflib.get_close_matches(key, takes, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TypeError(f"{kind} {name!r} has no hyper-parameter {key!r}{hint}; "
                            f"it takes: {', '.join(takes) or 'none'}")


def build(kind: str, name: str, params: dict[str, Any] | None = None, /, **defaults: Any) -> Any:
    """Build a component from its name and hyper-parameters: the one builder.

    ``params`` are the user's (a config, ``--param``); each keyword in ``defaults``
    (``n_arms``, ``n_features``, ``seed`` ...) fills that parameter only where the
    component takes it and ``params`` leave it unset. A misspelt parameter is a
    ``TypeError`` naming it, the closest match and every parameter the component takes.
    """
    factory = lookup(kind, name)
    params = dict(params or {})
    check_params(kind, name, params)
    takes = parameters(factory)
    for key, value in defaults.items():
        if value is not None and key not in params and key in takes:
            params[key] = value
    return factory(**params)


def make(kind: str, name: str, **params: Any) -> Any:
    """Build a registered component by name with keyword hyper-parameters (``build`` without defaults)."""
    return build(kind, name, params)
