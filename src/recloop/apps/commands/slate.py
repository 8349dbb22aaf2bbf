"""``recloop slate``: train SlateQ briefly on a RecSim-style simulator and compare it with
myopic greedy and random slates (rich table + PNG)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("slate")
    def slate(
        env: str = typer.Option("interest-evolution", "--env",
                                help="interest-evolution or long-term-satisfaction (meaningful preset)"),
        steps: int = typer.Option(20_000, "--steps", min=1, help="training user-steps per learning agent"),
        seed: int = typer.Option(0, "--seed", help="seed for envs, agents and evaluation users"),
        eval_users: int = typer.Option(500, "--eval-users", min=1, help="fresh users per agent for evaluation"),
        agents: str = typer.Option("slateq,myopic,random", "--agents",
                                   help="comma-separated: slateq, slateq-recsim, slateq-sarsa, myopic, "
                                        "full-slate-dqn, popularity, random"),
        out: Path = typer.Option(Path("runs/slate"), "--out", help="folder for the PNG and JSON"),
    ) -> None:
        """Slate RL: SlateQ vs baselines on a vectorised RecSim-style user simulator."""
        import json

        import torch
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
        from rich.table import Table

        from recloop.apps.slate_compare import ENVS, compare, plot_comparison

        if env not in ENVS:
            raise typer.BadParameter(f"unknown env {env!r}; choose from {', '.join(ENVS)}", param_hint="--env")
        torch.set_num_threads(1)
        names = tuple(a.strip() for a in agents.split(",") if a.strip())
        console = Console()
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,}"),
                      TimeElapsedColumn(), console=console) as progress:
            tasks = {n: progress.add_task(f"train {n}", total=steps) for n in names}
            try:
                rows = compare(env, names, steps=steps, seed=seed, eval_users=eval_users,
                               on_progress=lambda n, k: progress.update(tasks[n], completed=min(k, steps)))
            except ValueError as err:
                raise typer.BadParameter(str(err)) from err
        table = Table(title=f"{env}: episode return over {eval_users} fresh users (seed {seed})")
        for col in ("agent", "mean return", "± sem", "train s"):
            table.add_column(col, justify="left" if col == "agent" else "right")
        for r in sorted(rows, key=lambda r: -r["mean_return"]):
            table.add_row(r["agent"], f"{r['mean_return']:.1f}", f"{r['sem']:.1f}", f"{r['train_seconds']:.0f}")
        console.print(table)
        out.mkdir(parents=True, exist_ok=True)
        png = out / f"slate_{env}.png"
        plot_comparison(rows, png, title=f"{env} ({steps:,} training steps)")
        (out / f"slate_{env}.json").write_text(json.dumps(rows, indent=2))
        console.print(f"wrote {png} and {png.with_suffix('.json')}")
