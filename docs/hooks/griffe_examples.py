"""A griffe extension for the API reference: read recloop's ``Example:`` docstring sections as examples.

Google style, as griffe parses it, knows ``Examples:``; a singular ``Example:`` becomes a
plain admonition whose ``>>>`` lines render as prose (and whose ``x[i][j]`` read as links).
Most recloop docstrings say ``Example:`` and run under ``--doctest-modules`` as they are, so
the reference reads them as examples instead of editing every docstring.
"""

from __future__ import annotations

import re

import griffe

_SINGULAR = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class SingularExamples(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:  # noqa: ARG002 - griffe's hook signature
        if obj.docstring is not None:
            obj.docstring.value = _SINGULAR.sub(r"\1Examples:", obj.docstring.value)
