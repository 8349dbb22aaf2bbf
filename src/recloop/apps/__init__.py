"""Applications on top of the library: the CLI, its commands, the demo and its stages,
studies, plots, the traffic tool and the crash drill.

This is the only package that may import every area; no library package imports it
(checked by the import contracts in ``pyproject.toml``).
"""
