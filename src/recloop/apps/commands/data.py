"""``recloop data fetch``: the set-up step that obtains MovieLens-100k, so nothing downloads at run time."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from recloop.apps.console import fail

data_app = typer.Typer(help="Data sets: fetched at set-up time (make runs `recloop data fetch`), never at run time.",
                       no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")


@data_app.command("fetch")
def fetch(
    cache: Optional[Path] = typer.Option(None, "--cache", help="Cache folder (default $RECLOOP_CACHE or "
                                                              "~/.cache/recloop)."),
) -> None:
    """Fetch MovieLens-100k once (the recbole 1.2.1 wheel ships it; pip downloads the wheel, recbole is
    never installed) and extract it into the cache. Safe to re-run: a cached copy is kept."""
    from rich.console import Console

    from recloop.data.movielens import fetch_ml100k, load_atomic

    console = Console()
    try:
        folder = fetch_ml100k(cache)
        ml = load_atomic(folder, "ml-100k")
    except (RuntimeError, OSError, ValueError) as err:
        fail(console, err, 1)
    console.print(f"MovieLens-100k ready in [bold]{folder}[/bold]: {ml.n_users} users, {ml.n_items} films, "
                  f"{ml.n_interactions} ratings")
