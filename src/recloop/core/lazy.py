"""Package attributes imported on first use (PEP 562), so a package can name torch-backed
classes without importing torch until one of them is used."""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_attributes(module: str, table: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for package ``module``: ``table`` maps attribute -> ``"module:attr"``.

    >>> getattr_, dir_ = lazy_attributes("pkg", {"sqrt": "math:sqrt"})
    >>> getattr_("sqrt")(4.0), "sqrt" in dir_()
    (2.0, True)
    """

    def __getattr__(name: str) -> Any:
        if name not in table:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        where, attr = table[name].split(":")
        return getattr(importlib.import_module(where), attr)

    def __dir__() -> list[str]:
        return sorted(table)

    return __getattr__, __dir__
