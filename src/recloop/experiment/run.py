"""Run an experiment config end to end and write its run folder.

A run folder holds ``config.yaml``, ``meta.json`` (versions, git revision, machine,
command line), the tidy per-step table (``metrics.parquet`` and ``metrics.csv``), the
leaderboard (``summary.csv``), PNG plots, the learned policies (``models/``) and a
self-contained ``report.html``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from recloop.experiment import plots
from recloop.experiment.config import ConfigError, ExperimentConfig, dump_config
from recloop.experiment.families import RECENT, preflight
from recloop.experiment.provenance import write_metadata
from recloop.experiment.report import fmt, write_report
from recloop.experiment.runner import RunResult, execute, jobs_for, summarise, to_table
from recloop.experiment.section import Section


@dataclass
class ExperimentResult:
    config: ExperimentConfig
    results: list[RunResult]
    table: pa.Table
    summary: list[dict]
    out_dir: Path | None
    section: Section

    @property
    def errors(self) -> list[RunResult]:
        return [r for r in self.results if r.error]


def default_out_dir(name: str, root: Path = Path("runs")) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return root / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}-{stamp}"


def run_experiment(cfg: ExperimentConfig, out_dir: Path | None = None, *, progress: bool = True,
                   console: Console | None = None, write: bool = True) -> ExperimentResult:
    """Run every (policy, seed) of ``cfg``; with ``write`` (default) fill ``out_dir``.

    A config the loops cannot run raises :class:`ConfigError` before anything runs or is written.
    """
    try:
        preflight(cfg)
    except (ValueError, TypeError, KeyError) as err:
        text = err.args[0] if len(err.args) == 1 and isinstance(err.args[0], str) else str(err)
        raise ConfigError(f"{cfg.name} cannot run: {text}") from None
    console = console or Console(stderr=True)
    out_dir = (Path(out_dir) if out_dir else default_out_dir(cfg.name)) if write else None
    jobs = jobs_for(cfg, str(out_dir / "models") if out_dir else None)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, disable=not progress, transient=True) as bar:
        task = bar.add_task(f"{cfg.name}: {len(cfg.policies)} policies x {len(cfg.seeds)} seeds", total=len(jobs))
        results = execute(jobs, cfg.backend, cfg.n_jobs, ray_address=cfg.ray_address,
                          on_done=lambda r: bar.advance(task))
    for r in results:
        if r.error:
            console.print(f"[red]run {r.label} seed {r.seed} failed:[/red]\n{r.error}")
    labels = [p.label for p in cfg.policies]
    summary = summarise(results, labels)
    table = to_table(results)
    section = Section(title=cfg.name, text=_describe(cfg, _episodic(results)), rows=summary)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.yaml").write_text(dump_config(cfg))
        write_metadata(out_dir)
        pq.write_table(table, out_dir / "metrics.parquet")
        pacsv.write_csv(table, out_dir / "metrics.csv")
        if summary:
            pacsv.write_csv(pa.Table.from_pylist(summary), out_dir / "summary.csv")
        if _episodic(results):
            images = [plots.curves(results, labels, "episode_return", out_dir / "return.png", xlabel="step",
                                   title=f"{cfg.name}: episode return while learning",
                                   ylabel=f"mean return of the last {RECENT} episodes")]
        else:
            images = [
                plots.curves(results, labels, "regret", out_dir / "regret.png",
                             title=f"{cfg.name}: cumulative regret", ylabel="cumulative regret"),
                plots.curves(results, labels, "cum_expected", out_dir / "reward.png", per_step=True,
                             title=f"{cfg.name}: average expected reward", ylabel="mean expected reward per round"),
            ]
        section = Section(title=cfg.name, text=section.text, rows=summary, images=images)
        write_report(out_dir / "report.html", f"recloop: {cfg.name}", [section], config_text=dump_config(cfg))
    return ExperimentResult(cfg, results, table, summary, out_dir, section)


def _episodic(results: list[RunResult]) -> bool:
    return any(r.error is None and "regret" not in r.columns for r in results)


def _describe(cfg: ExperimentConfig, episodic: bool = False) -> str:
    params = ", ".join(f"{k}={v}" for k, v in cfg.env.params.items())
    if episodic:
        return (f"World: {cfg.env.name}({params}); {cfg.horizon} training steps per run; seeds {cfg.seeds}. "
                f"mean_return is the mean return of each run's last {RECENT} completed episodes (while "
                "learning, so with its exploration), mean +/- sd over seeds.")
    return (f"World: {cfg.env.name}({params}); horizon {cfg.horizon} rounds; seeds {cfg.seeds}. "
            "Regret is the exact pseudo-regret against the best arm's expected reward in each round; "
            "oracle_share is the expected reward collected as a share of the oracle's.")


def leaderboard(rows: list[dict], title: str) -> Table:
    """A rich table of a summary, mean +/- sd over seeds."""
    t = Table(title=title, title_justify="left")
    if any("mean_return" in r for r in rows):
        for col in ("policy", f"return (last {RECENT} episodes)", "episodes", "s/run"):
            t.add_column(col, justify="left" if col == "policy" else "right")
        for r in rows:
            if not r.get("runs"):
                t.add_row(r["policy"], "failed", "", "")
                continue
            t.add_row(r["policy"], f"{r['mean_return']:.4g} ± {r['mean_return_sd']:.2g}", f"{r['episodes']:.0f}",
                      f"{r['seconds']:.2f}")
        return t
    for col in ("policy", "mean reward", "regret", "oracle share", "s/run"):
        t.add_column(col, justify="left" if col == "policy" else "right")
    for r in rows:
        if not r.get("runs"):
            t.add_row(r["policy"], "failed", "", "", "")
            continue
        t.add_row(r["policy"], f"{r['mean_reward']:.4f} ± {r['mean_reward_sd']:.4f}",
                  f"{fmt(r['regret'])} ± {fmt(r['regret_sd'])}", f"{r['oracle_share']:.1%}", f"{r['seconds']:.2f}")
    return t
