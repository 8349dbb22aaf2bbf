"""The ``recloop`` command. Each area adds its commands through a ``register(app)`` hook."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="recloop",
    help="Recommender systems with reinforcement learning: simulate, learn, evaluate, serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

# Modules exposing ``register(app: typer.Typer) -> None``. Heavy imports stay inside
# the commands, so `recloop --help` is fast and a missing extra breaks only its command.
COMMAND_MODULES = [
    "recloop.apps.commands.experiment",
    "recloop.apps.commands.tabular",
    "recloop.apps.commands.deep",
    "recloop.apps.commands.slate",
    "recloop.apps.commands.ope",
    "recloop.apps.commands.fit",
    "recloop.apps.commands.serve",
    "recloop.apps.commands.movielens",
    "recloop.apps.commands.data",
]


def _register_all() -> None:
    for module in COMMAND_MODULES:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name in (module, module.rsplit(".", 1)[0]):
                continue  # that area is not built yet
            raise
        mod.register(app)


_register_all()

if __name__ == "__main__":
    app()
