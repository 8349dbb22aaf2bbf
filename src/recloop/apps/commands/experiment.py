"""CLI commands of the experiment area: ``recloop run``, ``recloop demo``, ``recloop list``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from recloop.apps.console import fail

TRACK_HELP = ("Also log to MLflow: 'mlflow' (sqlite:///mlflow.db here, browse with `mlflow ui`) or mlflow:URI "
              "(a folder such as ./mlruns, sqlite:///FILE, http://HOST:PORT). Needs the 'track' extra.")


def open_tracker(console, track: Optional[str], experiment: str):
    """The tracker for ``--track``, opened before anything runs: a bad value costs no run."""
    from recloop.experiment.tracking import open_tracker as _open

    try:
        return _open(track, experiment)
    except (ValueError, ImportError) as err:
        fail(console, err)
    except Exception as err:  # the store itself refused (bad URI, server down): say so before running
        fail(console, f"--track {track}: {type(err).__name__}: {err}")


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        config: Path = typer.Argument(..., help="Experiment YAML (env, policies, horizon, seeds, backend)."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder (default runs/NAME-TIMESTAMP)."),
        backend: Optional[str] = typer.Option(None, help="Override the config: local, process or ray."),
        jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="Parallel processes (process backend)."),
        address: Optional[str] = typer.Option(None, help="Ray cluster address (ray backend)."),
        seed: Optional[int] = typer.Option(None, help="First seed; with --seeds N runs seeds seed..seed+N-1."),
        seeds: Optional[int] = typer.Option(None, help="Number of seeds (overrides the config)."),
        track: Optional[str] = typer.Option(None, "--track", help=TRACK_HELP),
    ) -> None:
        """Run any experiment config and write its run folder (table, plots, HTML report, meta.json)."""
        from rich.console import Console

        from recloop.experiment.config import ConfigError, load_config
        from recloop.experiment.run import leaderboard, run_experiment

        console = Console()
        try:
            cfg = load_config(config)
            updates: dict = {}
            if backend:
                updates["backend"] = backend
            if jobs:
                updates["n_jobs"] = jobs
            if address:
                updates["ray_address"] = address
            if seed is not None or seeds is not None:
                n = seeds or len(cfg.seeds)
                first = seed if seed is not None else cfg.seeds[0]
                updates["seeds"] = list(range(first, first + n))
            if updates:
                from recloop.experiment.config import parse_config
                cfg = parse_config({**cfg.model_dump(mode="json"), **updates}, str(config))
        except ConfigError as err:
            fail(console, err)
        tracker = open_tracker(console, track, "recloop-run")
        try:
            result = run_experiment(cfg, out, console=console)
        except ConfigError as err:  # refused before running: nothing written
            fail(console, err)
        unit = "steps" if any("mean_return" in r for r in result.summary) else "rounds"
        console.print(leaderboard(result.summary, f"{cfg.name}: {cfg.horizon} {unit}, {len(cfg.seeds)} seeds"))
        console.print(f"run folder: [bold]{result.out_dir}[/bold] (report.html, metrics.parquet, plots)")
        if tracker is not None:
            from recloop.experiment.tracking import track_experiment

            run_id = track_experiment(tracker, result)
            console.print(f"tracked: MLflow run {run_id} in {tracker.uri}")
        if result.errors:
            raise typer.Exit(1)

    @app.command("sweep")
    def sweep(
        config: Path = typer.Argument(..., help="Sweep YAML: a 'sweep:' block plus the experiment (inline or "
                                                "'experiment: PATH')."),
        out: Optional[Path] = typer.Option(None, "--out", "-o",
                                           help="Sweep folder (default runs/NAME-sweep-TIMESTAMP)."),
        backend: Optional[str] = typer.Option(None, help="Override the experiment: local, process or ray."),
        jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="Parallel processes (process backend)."),
        address: Optional[str] = typer.Option(None, help="Ray cluster address (ray backend)."),
        seed: Optional[int] = typer.Option(None, help="Seed of the random search's draws (overrides sweep.seed)."),
        track: Optional[str] = typer.Option(None, "--track", help=TRACK_HELP),
    ) -> None:
        """Grid or random search over one policy's hyper-parameters; writes trials.csv and a re-runnable best.yaml."""
        from rich.console import Console
        from rich.table import Table

        from recloop.experiment.config import ConfigError, parse_config
        from recloop.experiment.sweep import SweepConfig, load_sweep, run_sweep

        console = Console()
        try:
            cfg = load_sweep(config)
            updates = {k: v for k, v in (("backend", backend), ("n_jobs", jobs), ("ray_address", address)) if v}
            exp = parse_config({**cfg.experiment.model_dump(mode="json"), **updates}, str(config))
            spec = cfg.sweep if seed is None else cfg.sweep.model_copy(update={"seed": seed})
        except ConfigError as err:
            fail(console, err)
        tracker = open_tracker(console, track, "recloop-sweep")
        try:
            result = run_sweep(SweepConfig(exp, spec), out, console=console)
        except ConfigError as err:  # refused before running: nothing written
            fail(console, err)
        except RuntimeError as err:
            fail(console, err, 1)
        metric = spec.metric
        table = Table(title=f"{exp.name}: {len(result.trials)} settings of {cfg.base.label}, "
                            f"{metric} ({spec.mode}), {len(exp.seeds)} seeds", title_justify="left")
        for col in (*spec.params, metric, "runs"):
            table.add_column(col, justify="right")
        ranked = sorted((r for r in result.trials if r["runs"]), key=lambda r: r[metric], reverse=spec.mode == "max")
        for r in ranked[:15]:
            table.add_row(*(str(r[k]) for k in spec.params), f"{r[metric]:.4g} ± {r[metric + '_sd']:.2g}",
                          str(r["runs"]))
        console.print(table)
        console.print(f"best: [bold]{result.best['policy']}[/bold] ({metric} {result.best[metric]:.4g}); "
                      f"re-run it with: recloop run {result.out_dir / 'best.yaml'}")
        for note in result.edges:
            console.print(f"[yellow]on the edge:[/yellow] {note}")
        if tracker is not None:
            from recloop.experiment.tracking import track_sweep

            console.print(f"tracked: MLflow run {track_sweep(tracker, result)} in {tracker.uri}")
        if any(r["failed"] for r in result.trials):
            raise typer.Exit(1)

    @app.command("demo")
    def demo(
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder (default runs/demo-TIMESTAMP)."),
        seed: int = typer.Option(0, help="Base seed of every stage."),
        seeds: int = typer.Option(5, help="Seeds per bandit world."),
        only: Optional[str] = typer.Option(None, help="Comma-separated stage names to run (default: all): "
                                                      "bandits, tabular, deep, slate, ope, movielens, serve."),
    ) -> None:
        """The main job: the bandit ladder on three worlds, then every other stage; one HTML report."""
        from rich.console import Console

        from recloop.apps.demo.run import run_demo, unknown_stages

        if only and (problem := unknown_stages(only.split(","))):
            fail(Console(), problem)
        run_demo(out, seed=seed, n_seeds=seeds, only=only.split(",") if only else None)

    @app.command("list")
    def list_components(
        kind: Optional[str] = typer.Argument(None, help="policy, env, agent or recommender (default: every kind)."),
    ) -> None:
        """List the registered component names (usable in configs and commands)."""
        from rich.console import Console

        from recloop.core import registry

        plural = {"policies": "policy", "envs": "env", "agents": "agent", "recommenders": "recommender"}
        kind = plural.get(kind, kind) if kind else kind
        try:
            wanted = [kind] if kind else registry.kinds()
            rows = [(k, name, registry.target(k, name), registry.summary(k, name))
                    for k in wanted for name in registry.names(k)]
        except KeyError as err:
            fail(Console(stderr=True), err)
        for k, name, target, summary in rows:
            prefix = f"{k:12s} " if not kind else ""
            typer.echo(f"{prefix}{name:24s} {target.rsplit(':', 1)[1]:22s} {summary}")
