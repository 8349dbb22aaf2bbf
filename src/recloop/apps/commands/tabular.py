"""``recloop maze`` and ``recloop trade``: the tabular case studies from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from recloop.apps.console import fail


def register(app: typer.Typer) -> None:
    app.command("maze")(maze)
    app.command("trade")(trade)


def maze(
    map: str = typer.Option("classic", "--map", help="A shipped map (corridor, classic, cliff, rooms, labyrinth) or a .txt map file."),
    seed: int = typer.Option(0, help="Seed of the Q-learner and the maze."),
    gamma: float = typer.Option(0.95, help="Discount factor."),
    steps: int = typer.Option(30_000, help="Q-learning steps."),
    out: Path = typer.Option(Path("runs/maze"), help="Folder for the heat-map PNG."),
) -> None:
    """Solve a maze by value iteration and by Q-learning; print values and policies, save a heat map."""
    import numpy as np
    from rich.console import Console

    from recloop.apps.studies import heat_grid, maze_study, plot_maze

    console = Console()
    try:
        study = maze_study(map, seed=seed, gamma=gamma, steps=steps, progress=True)
    except (ValueError, KeyError, FileNotFoundError) as err:
        fail(console, err)
    env = study.env
    grid = env.value_grid(study.planned.values)
    shaded = heat_grid(env, study.planned.values)  # goals and traps do not set the colour scale
    console.print(f"[bold]V* by value iteration[/bold] (gamma={gamma}, {study.planned.iterations} sweeps, "
                  f"Bellman residual {study.planned.bellman_residual:.1e})")
    lo, hi = float(shaded.min()), float(shaded.max())
    width = max(len(f"{v:.2f}") for v in study.planned.values)
    for i in range(env.height):
        cells = []
        for j in range(env.width):
            v, kind = grid[i, j], env.rows[i][j]
            if np.isnan(v):
                cells.append("[dim]" + "#" * width + "[/dim]")
                continue
            frac = (v - lo) / (hi - lo) if hi > lo else 1.0
            shade = "green" if frac > 0.75 else "yellow" if frac > 0.4 else "red"
            cells.append(f"[{shade}]{v:>{width}.2f}[/{shade}]" if kind not in "GT" else f"[bold]{kind:>{width}}[/bold]")
        console.print(" ".join(cells), soft_wrap=True, highlight=False)
    for title, rows in (("policy (value iteration)", env.arrow_grid(study.planned.policy)),
                        ("policy (Q-learning, greedy)", env.arrow_grid(study.agent.greedy_policy()))):
        console.print(f"[bold]{title}[/bold]")
        console.print("\n".join(rows), highlight=False)
    console.print(f"Q-learning: optimal action in {100 * study.optimal_action_share:.0f}% of states, "
                  f"max |max_a Q - V*| = {study.value_error:.3f} after {study.curve.steps} steps "
                  f"({len(study.curve.returns)} episodes)")
    path = plot_maze(study, out / f"maze-{Path(str(map)).stem}.png")
    console.print(f"heat map written to [bold]{path}[/bold]")


def trade(
    csv: Optional[Path] = typer.Option(None, "--csv", help="Daily prices: a CSV with Date and Close columns (OHLCV is fine). Default: a seeded regime-switching series."),
    column: str = typer.Option("Close", help="Price column of the CSV."),
    seed: int = typer.Option(0, help="Seed of the Q-trader (and of the generated series)."),
    train_fraction: float = typer.Option(0.7, help="Share of the days used for training; the rest is out of sample."),
    episodes: int = typer.Option(20, help="Passes over the training days."),
    cost: float = typer.Option(0.001, help="Transaction cost per unit of position change (0.001 = 10 bp)."),
    out: Path = typer.Option(Path("runs/trade"), help="Folder for the equity-curve PNG."),
) -> None:
    """Train a Q-trader on the first part of a price series; report out-of-sample Sharpe, return and
    drawdown against buy-and-hold; plot the equity curve with positions."""
    from rich.console import Console
    from rich.table import Table

    from recloop.apps.studies import plot_equity, trade_study
    from recloop.envs.prices import load_prices_csv

    console = Console()
    try:
        series = load_prices_csv(csv, column=column) if csv is not None else None
        study = trade_study(series, seed=seed, train_fraction=train_fraction, episodes=episodes, cost=cost,
                            progress=True)
    except (ValueError, FileNotFoundError) as err:
        fail(console, err)
    test_days = len(study.trader.returns)
    table = Table(title=f"{study.series.name}: out of sample, last {test_days} days "
                        f"(trained on {study.split} days, cost {cost:g})")
    for col in ("strategy", "Sharpe (ann.)", "total return", "max drawdown", "trades"):
        table.add_column(col, justify="right" if col != "strategy" else "left")
    rows = (("Q-trader", study.trader.report), ("buy and hold", study.hold.report),
            ("Q-trader, in sample", study.trader_in_sample.report))
    for name, rep in rows:
        table.add_row(name, f"{rep.sharpe:.2f}", f"{100 * rep.total_return:+.1f}%", f"{100 * rep.max_drawdown:.1f}%",
                      str(rep.trades))
    console.print(table)
    path = plot_equity(study, out / f"equity-{study.series.name}.png")
    console.print(f"equity curve written to [bold]{path}[/bold]")

