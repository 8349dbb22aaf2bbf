"""How every command reports bad input: one red line, the message whole, exit code 2."""

from __future__ import annotations

from typing import Any, NoReturn

import typer
from rich.markup import escape


def message(err: BaseException | str) -> str:
    """The user-facing text of ``err`` (a KeyError's own message, not its repr)."""
    if isinstance(err, str):
        return err
    if len(err.args) == 1 and isinstance(err.args[0], str):
        return err.args[0]
    return str(err)


def fail(console: Any, err: BaseException | str, code: int = 2) -> NoReturn:
    """Print ``error: ...`` without wrapping (paths stay whole, copyable) and exit with ``code``."""
    console.print(f"[red]error:[/red] {escape(message(err))}", soft_wrap=True)
    raise typer.Exit(code) from None
