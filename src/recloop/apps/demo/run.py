"""``recloop demo``: the whole loop on one laptop, stage by stage, into one HTML report.

The first stage is the bandit ladder on three simulated worlds; every other area
of the library adds a stage through a module with ``demo_stage(out_dir, seed)``.
"""

from __future__ import annotations

import contextlib
import importlib
import time
import traceback
from importlib import resources
from pathlib import Path

from rich.console import Console
from rich.table import Table

from recloop.experiment.config import load_config, parse_config
from recloop.experiment.report import fmt, write_report
from recloop.experiment.run import default_out_dir, leaderboard, run_experiment
from recloop.experiment.section import Section

BANDIT_WORLDS = ["bandit-stationary", "bandit-drifting", "bandit-contextual"]

# (stage name, module with demo_stage); a module not built yet is skipped.
STAGES = [
    ("tabular", "recloop.apps.demo.tabular"),
    ("deep", "recloop.apps.demo.deep"),
    ("slate", "recloop.apps.demo.slate"),
    ("ope", "recloop.apps.demo.ope"),
    ("movielens", "recloop.apps.demo.movielens"),
    ("serve", "recloop.apps.demo.serve"),
]
# What each stage does while it runs, printed as it starts (a stage takes seconds to a minute).
DOING = {
    "tabular": "value iteration vs Q-learning on a maze, a Q-trader, a session recommender",
    "deep": "PPO learning CartPole-v1, evaluated every 2,500 steps beside a random policy",
    "slate": "training SlateQ, myopic and random slates on interest evolution",
    "ope": "20,000 logged decisions; three target policies valued from the logs by every estimator",
    "movielens": "SQN (RL) vs popularity and item-kNN on MovieLens-100k ratings",
    "serve": "a LinUCB service learning from simulated users over HTTP",
}


def stage_names() -> list[str]:
    return ["bandits", *(name for name, _ in STAGES)]


def unknown_stages(wanted: list[str]) -> str | None:
    """The error for stage names that do not exist (listing those that do), or None."""
    unknown = sorted(set(wanted) - set(stage_names()))
    if not unknown:
        return None
    return f"unknown demo stage(s): {', '.join(unknown)}; stages: {', '.join(stage_names())}"


def packaged_config(name: str) -> Path:
    path = resources.files("recloop.experiment") / "configs" / f"{name}.yaml"
    return Path(str(path))


def bandit_sections(out: Path, seed: int, n_seeds: int, console: Console) -> list[Section]:
    sections = []
    for world in BANDIT_WORLDS:
        cfg = load_config(packaged_config(world))
        cfg = parse_config({**cfg.model_dump(mode="json"), "seeds": list(range(seed, seed + n_seeds))}, world)
        result = run_experiment(cfg, out / "bandits" / cfg.name, console=console)
        console.print(leaderboard(result.summary, f"bandits / {cfg.name}: {cfg.horizon} rounds, {n_seeds} seeds"))
        if result.errors:
            raise RuntimeError(f"{len(result.errors)} bandit runs failed in world {cfg.name}")
        sections.append(Section(title=f"Bandits: {cfg.name} world", text=result.section.text,
                                rows=result.summary, images=result.section.images))
    return sections


@contextlib.contextmanager
def _ticking(console: Console, name: str):
    """A spinner with the seconds elapsed while a stage runs (on a terminal; a log gets the start line)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn(f"{name}"), TimeElapsedColumn(), console=console,
                  transient=True) as bar:
        bar.add_task(name, total=None)
        yield


def _rows_table(section: Section) -> Table:
    t = Table(title=section.title, title_justify="left")
    keys = list(dict.fromkeys(k for r in section.rows for k in r))
    for k in keys:
        t.add_column(k)
    for r in section.rows:
        t.add_row(*(fmt(r.get(k, "")) for k in keys))
    return t


def run_demo(out: Path | None = None, *, seed: int = 0, n_seeds: int = 5, only: list[str] | None = None,
             console: Console | None = None) -> Path:
    console = console or Console()
    out = Path(out) if out else default_out_dir("demo")
    sections: list[Section] = []
    failed: list[str] = []
    wanted = set(only) if only else None
    if wanted and (problem := unknown_stages(list(wanted))):
        raise SystemExit(problem)
    t_all = time.perf_counter()
    if not wanted or "bandits" in wanted:
        console.rule("[bold]bandits")
        sections += bandit_sections(out, seed, n_seeds, console)
    for name, module in STAGES:
        if wanted and name not in wanted:
            continue
        try:
            stage = importlib.import_module(module).demo_stage
        except ModuleNotFoundError as err:
            if err.name and module.startswith(err.name):
                continue  # that area is not part of this build yet
            raise
        console.rule(f"[bold]{name}")
        t0 = time.perf_counter()
        console.print(f"{name}: {DOING.get(name, 'running')} ...", highlight=False)
        try:
            with _ticking(console, name):
                new = stage(out / name, seed)
        except Exception as err:
            if isinstance(err, FileNotFoundError) and "recloop data fetch" in str(err):
                # data not set up (an offline install): say so and go on; no other stage needs it
                console.print(f"[yellow]stage {name} skipped:[/yellow] {err}", highlight=False)
                sections.append(Section(title=f"{name} (skipped)", text=str(err)))
                continue
            failed.append(name)
            console.print(f"[red]stage {name} failed:[/red]\n{traceback.format_exc()}")
            sections.append(Section(title=f"{name} (failed)", text=traceback.format_exc()))
            continue
        for s in new:
            if s.rows:
                console.print(_rows_table(s))
            elif s.text:
                console.print(s.text)
        console.print(f"[dim]{name}: {time.perf_counter() - t0:.1f} s[/dim]")
        sections += new
    report = write_report(out / "report.html", "recloop demo", sections)
    console.rule()
    console.print(f"demo finished in {time.perf_counter() - t_all:.0f} s; report: [bold]{report}[/bold]")
    if failed:
        raise SystemExit(f"demo stages failed: {', '.join(failed)}")
    return report
