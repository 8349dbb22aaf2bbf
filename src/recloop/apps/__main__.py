"""``python -m recloop.apps ...``: the serve/traffic commands without the rest of the CLI."""

import typer

from recloop.apps.commands.serve import register

app = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
register(app)

if __name__ == "__main__":
    app()
