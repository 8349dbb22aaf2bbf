"""Hyper-parameter sweeps: grid and random search over one policy's hyper-parameters.

A sweep is an experiment config plus a ``sweep:`` block, in the same YAML file
or in one beside it (``experiment: stationary.yaml``)::

    experiment: bandit-contextual.yaml        # or the experiment's own fields inline
    sweep:
      policy: linucb                          # a policy label in the experiment, or any policy name
      params:
        alpha: [0.1, 0.5, 1.0, 2.0]           # a list: grid values (random search: choices)
        l2: {low: 0.1, high: 10, log: true}   # a range: random search only
      method: grid                            # grid (every combination) | random (``samples`` draws)
      metric: regret                          # regret | mean_reward | oracle_share (bandits); mean_return
      mode: min                               # default: min for regret, max otherwise

Every trial is the policy with one setting of the parameters, run on every seed
of the experiment; all trials x seeds are one batch on the experiment's backend
(local, process or Ray tasks), so a sweep scales exactly as an experiment does.
We use our own runner rather than Ray Tune: the trials are short, independent
and all known up front, which is the case Tune's schedulers add nothing to, and
the same sweep then runs without Ray at all.

The best setting is reported and written as ``best.yaml``: the original
experiment with the swept policy's parameters set to the winner, runnable with
``recloop run best.yaml``.

Example:
    >>> spec = SweepSpec.model_validate({"policy": "epsilon-greedy",
    ...                                  "params": {"epsilon": [0.01, 0.1, 0.5]}})
    >>> trials(spec)
    [{'epsilon': 0.01}, {'epsilon': 0.1}, {'epsilon': 0.5}]
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from recloop.experiment.config import ConfigError, ExperimentConfig, PolicySpec, _format, dump_config, parse_config, read_yaml
from recloop.core.seeding import as_generator

METRICS = {"regret": "min", "mean_reward": "max", "oracle_share": "max", "mean_return": "max"}
EPISODIC_METRICS = ("mean_return",)  # tabular / deep / slate runs: no regret, no per-round reward


class Range(BaseModel):
    """A continuous (or integer) range for random search; ``log`` samples uniformly in log space."""

    model_config = ConfigDict(extra="forbid")
    low: float
    high: float
    log: bool = False
    integer: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> "Range":
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self

    def draw(self, rng: np.random.Generator) -> float | int:
        if self.log:
            x = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            x = rng.uniform(self.low, self.high)
        # 6 significant digits: the value written to best.yaml is the value that ran
        return int(round(x)) if self.integer else float(f"{x:.6g}")


class SweepSpec(BaseModel):
    """What to search: one policy, its parameters' values or ranges, the metric and direction."""

    model_config = ConfigDict(extra="forbid")
    policy: str
    params: dict[str, list[Any] | Range] = Field(min_length=1)
    method: Literal["grid", "random"] = "grid"
    samples: int | None = Field(default=None, ge=1)
    metric: Literal["regret", "mean_reward", "oracle_share", "mean_return"] = "regret"
    mode: Literal["min", "max"] | None = None
    seed: int = 0

    @field_validator("params", mode="before")
    @classmethod
    def _shapes(cls, params: Any) -> Any:
        if not isinstance(params, dict):
            return params
        out = {}
        for name, values in params.items():
            if isinstance(values, dict):  # validate here so the error names the range, not the union
                try:
                    values = Range.model_validate(values)
                except ValidationError as err:
                    raise ValueError(f"params.{name}: {_format(err).strip().removeprefix('(top level): ')}") from None
            elif not isinstance(values, (list, Range)):
                raise ValueError(f"params.{name}: give a list of values or a range {{low, high}}, not {values!r}")
            out[name] = values
        return out

    @model_validator(mode="after")
    def _consistent(self) -> "SweepSpec":
        for name, values in self.params.items():
            if isinstance(values, list) and not values:
                raise ValueError(f"params.{name}: give at least one value")
        if self.method == "grid":
            ranges = [n for n, v in self.params.items() if isinstance(v, Range)]
            if ranges:
                raise ValueError(f"params.{ranges[0]}: a range needs method: random (a grid takes lists of values)")
            if self.samples is not None:
                raise ValueError("samples is for method: random (a grid runs every combination)")
        elif self.samples is None:
            raise ValueError("method: random needs samples (how many settings to draw)")
        if self.mode is None:
            self.mode = METRICS[self.metric]  # type: ignore[assignment]
        return self


@dataclass(frozen=True)
class SweepConfig:
    experiment: ExperimentConfig
    sweep: SweepSpec

    @property
    def index(self) -> int | None:
        """Position of the swept policy in the experiment: by label, else by a name only one policy has."""
        policies = self.experiment.policies
        for i, p in enumerate(policies):
            if p.label == self.sweep.policy:
                return i
        named = [i for i, p in enumerate(policies) if p.name == self.sweep.policy]
        return named[0] if len(named) == 1 else None

    @property
    def base(self) -> PolicySpec:
        """The swept policy as the experiment has it (or bare, if the experiment lacks it)."""
        i = self.index
        return PolicySpec(name=self.sweep.policy) if i is None else self.experiment.policies[i]


@dataclass(frozen=True)
class SweepResult:
    config: SweepConfig
    trials: list[dict]  # one row per setting: label, the parameters, metric mean/sd, runs, failed
    best: dict  # the winning row
    best_config: ExperimentConfig
    out_dir: Path | None
    results: list = field(default_factory=list)  # every (setting, seed) RunResult, labelled by setting

    @property
    def edges(self) -> list[str]:
        """Swept values whose best sits on the edge of what was tried (see :func:`edge_notes`)."""
        return edge_notes(self.config.sweep, self.best)

    @property
    def best_params(self) -> dict[str, Any]:
        return {k: self.best[k] for k in self.config.sweep.params}


def trials(spec: SweepSpec) -> list[dict[str, Any]]:
    """The parameter settings to run, in a fixed order (grid: row-major; random: draw order)."""
    names = list(spec.params)
    if spec.method == "grid":
        return [dict(zip(names, combo)) for combo in itertools.product(*spec.params.values())]
    rng = as_generator(spec.seed)
    out: list[dict[str, Any]] = []
    for _ in range(spec.samples or 0):
        setting = {}
        for name, values in spec.params.items():
            setting[name] = values.draw(rng) if isinstance(values, Range) else values[rng.integers(len(values))]
        if setting not in out:  # choices-only spaces repeat; running a setting twice adds nothing
            out.append(setting)
    return out


def _check_params(spec: SweepSpec, base: PolicySpec) -> None:
    """Every swept name must be a keyword the policy takes; say which ones it does take;
    and the metric must be one its family measures."""
    from recloop.experiment.families import check_hyperparameters, policy_family

    family, _ = policy_family(base.name)
    for name in spec.params:
        try:
            check_hyperparameters(base.name, {name: None})
        except TypeError as err:
            raise ValueError(f"params.{name}: {err}") from None
    episodic = family != "bandit"
    if episodic != (spec.metric in EPISODIC_METRICS):
        fits = "mean_return" if episodic else "regret, mean_reward or oracle_share"
        raise ValueError(f"metric: {spec.metric} is not measured for {family} policies; use {fits}")


def parse_sweep(data: Any, source: str = "sweep", base_dir: Path | None = None) -> SweepConfig:
    """Validate a sweep mapping: a ``sweep`` block plus the experiment inline or as ``experiment: PATH``."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    data = dict(data)
    if "sweep" not in data:
        raise ConfigError(f"{source}: no 'sweep' block (policy, params, metric, ...); see docs/scale.md")
    raw_sweep = data.pop("sweep")
    if "experiment" in data:
        ref = data.pop("experiment")
        if data:
            raise ConfigError(f"{source}: with 'experiment: {ref}' the experiment lives in that file; "
                              f"move {', '.join(sorted(data))} there")
        from recloop.experiment.config import load_config

        experiment = load_config((base_dir or Path.cwd()) / str(ref))
    else:
        experiment = parse_config(data, source)
    if not isinstance(raw_sweep, dict):
        raise ConfigError(f"{source}: 'sweep' must be a mapping (policy, params, metric, ...)")
    if "metric" not in raw_sweep:  # episodic policies have no regret: their default is their return
        raw_sweep = {**raw_sweep, "metric": _default_metric(experiment, raw_sweep.get("policy"))}
    try:
        spec = SweepSpec.model_validate(raw_sweep)
    except ValidationError as err:
        raise ConfigError(f"{source} is invalid:\n{_format_sweep(err)}") from None
    cfg = SweepConfig(experiment, spec)
    try:
        if cfg.index is None:
            from recloop.experiment.families import policy_family

            policy_family(spec.policy)
        _check_params(spec, cfg.base)
    except KeyError as err:
        labels = ", ".join(p.label or p.name for p in experiment.policies)
        raise ConfigError(f"{source} is invalid:\n  sweep.policy: {spec.policy!r} is neither a policy of the "
                          f"experiment ({labels}) nor a registered one: {err.args[0]}") from None
    except ValueError as err:
        raise ConfigError(f"{source} is invalid:\n  sweep.{err}") from None
    return cfg


def _default_metric(experiment: ExperimentConfig, policy: Any) -> str:
    from recloop.experiment.families import policy_family

    name = next((p.name for p in experiment.policies if policy in (p.label, p.name)), policy)
    try:
        family, _ = policy_family(str(name))
    except KeyError:
        return "regret"  # the unknown name is reported by the checks that follow
    return "regret" if family == "bandit" else "mean_return"


def edge_notes(spec: SweepSpec, best: dict[str, Any]) -> list[str]:
    """One note per swept number whose best value is the smallest or largest tried: the optimum
    may lie beyond the grid.

    >>> spec = SweepSpec.model_validate({"policy": "ucb1", "params": {"c": [0.5, 1.0, 2.0]}})
    >>> edge_notes(spec, {"c": 2.0})
    ['c=2 is the largest value tried: the best may lie above it; widen the grid']
    >>> edge_notes(spec, {"c": 1.0})
    []
    """
    notes = []
    for name, values in spec.params.items():
        if isinstance(values, Range):
            lo, hi = values.low, values.high
        else:
            nums = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
            if len(set(nums)) < 2 or len(nums) != len(values):
                continue
            lo, hi = min(nums), max(nums)
        value = best[name]
        where = "smallest" if value == lo else "largest" if value == hi else None
        if where is None and isinstance(values, Range):  # a draw within 5% of the range's end, in its scale
            x, a, b = (np.log([value, lo, hi]) if values.log else (value, lo, hi))
            where = "smallest" if (x - a) < 0.05 * (b - a) else "largest" if (b - x) < 0.05 * (b - a) else None
        if where:
            side = "below" if where == "smallest" else "above"
            notes.append(f"{name}={value:g} is the {where} value tried: the best may lie {side} it; widen the grid")
    return notes


def _format_sweep(err: ValidationError) -> str:
    lines = []
    for line in _format(err).splitlines():
        where, _, msg = line.strip().partition(": ")
        if msg.startswith("params."):  # our validators name the parameter themselves
            lines.append(f"  sweep.{msg}")
        else:
            lines.append(f"  sweep{'' if where == '(top level)' else '.' + where}: {msg}")
    return "\n".join(lines)


def load_sweep(path: str | Path) -> SweepConfig:
    """Read and validate a sweep YAML (``experiment:`` paths are relative to it)."""
    path = Path(path)
    return parse_sweep(read_yaml(path, "sweep"), str(path), path.parent)


def _label(base: str, setting: dict[str, Any]) -> str:
    return base + " " + " ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in setting.items())


def run_sweep(cfg: SweepConfig, out_dir: Path | None = None, *, progress: bool = True,
              console: Any = None, write: bool = True) -> SweepResult:
    """Run every setting x seed as one batch on the experiment's backend; pick and write the best."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from recloop.experiment.run import default_out_dir
    from recloop.experiment.runner import Job, execute, summarise, to_table

    from recloop.experiment.families import preflight

    spec, base, exp = cfg.sweep, cfg.base, cfg.experiment
    try:
        preflight(exp)
    except (ValueError, TypeError, KeyError) as err:
        raise ConfigError(f"{exp.name} cannot run: {err.args[0] if err.args else err}") from None
    console = console or Console(stderr=True)
    settings = trials(spec)
    labels: list[str] = []
    for setting in settings:
        label = _label(base.label or base.name, setting)
        labels.append(label if label not in labels else f"{label} #{len(labels)}")  # draws that print alike
    # Every trial runs under the base policy's label, so its policy seeds (derived from the
    # label) are the ones `recloop run best.yaml` will use: the best trial re-runs to the same
    # numbers, and trials differ only in their parameters (common random numbers).
    jobs = [Job(exp.env, base.model_copy(update={"params": {**base.params, **setting}}), s, exp.horizon, exp.every)
            for setting in settings for s in exp.seeds]
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, disable=not progress, transient=True) as bar:
        task = bar.add_task(f"{exp.name}: {len(settings)} settings x {len(exp.seeds)} seeds", total=len(jobs))
        results = execute(jobs, exp.backend, exp.n_jobs, ray_address=exp.ray_address,
                          on_done=lambda r: bar.advance(task))
    for i, r in enumerate(results):
        r.label = labels[i // len(exp.seeds)]
        if r.error:
            console.print(f"[red]trial {r.label} seed {r.seed} failed:[/red]\n{r.error}")
    by_label = {r["policy"]: r for r in summarise(results, labels)}
    rows = [{"policy": label, **setting, spec.metric: by_label[label].get(spec.metric, math.nan),
             f"{spec.metric}_sd": by_label[label].get(f"{spec.metric}_sd", math.nan),
             "runs": by_label[label]["runs"], "failed": by_label[label]["failed"]}
            for label, setting in zip(labels, settings)]
    ok = [r for r in rows if r["runs"]]
    if not ok:
        raise RuntimeError(f"every trial of the sweep failed; first error:\n{results[0].error}")
    sign = 1.0 if spec.mode == "min" else -1.0
    best = min(ok, key=lambda r: sign * r[spec.metric])  # ties: the first in trial order
    best_config = tuned_config(cfg, {k: best[k] for k in spec.params})
    if write:
        out_dir = Path(out_dir) if out_dir else default_out_dir(f"{exp.name}-sweep")
        _write(out_dir, cfg, rows, best, best_config, results, to_table(results))
    return SweepResult(cfg, rows, best, best_config, out_dir if write else None, results)


def _write(out_dir: Path, cfg: SweepConfig, rows: list[dict], best: dict, best_config: ExperimentConfig,
           results: list, table: pa.Table) -> None:
    """The sweep folder: sweep.yaml, trials.csv, metrics.parquet, best.yaml, a regret plot and report.html."""
    import pyarrow.parquet as pq

    from recloop.experiment import plots
    from recloop.experiment.provenance import write_metadata
    from recloop.experiment.report import write_report
    from recloop.experiment.section import Section

    spec = cfg.sweep
    out_dir.mkdir(parents=True, exist_ok=True)
    sweep_text = yaml.safe_dump({"sweep": spec.model_dump(mode="json", exclude_none=True)}, sort_keys=False)
    (out_dir / "sweep.yaml").write_text(sweep_text)
    (out_dir / "experiment.yaml").write_text(dump_config(cfg.experiment))
    write_metadata(out_dir)
    pacsv.write_csv(pa.Table.from_pylist(rows), out_dir / "trials.csv")
    pq.write_table(table, out_dir / "metrics.parquet")
    (out_dir / "best.yaml").write_text(
        f"# Best {spec.metric} ({spec.mode}) of {len(rows)} settings of {cfg.base.label}; "
        f"re-run with: recloop run best.yaml\n" + dump_config(best_config))
    ranked = sorted((r for r in rows if r["runs"]), key=lambda r: r[spec.metric], reverse=spec.mode == "max")
    shown = [r["policy"] for r in ranked[:10]]  # more lines than this is a blur
    if spec.metric in EPISODIC_METRICS:
        image = plots.curves(results, shown, "episode_return", out_dir / "return.png", xlabel="step",
                             title=f"{cfg.experiment.name}: the {len(shown)} best settings",
                             ylabel="mean return of the last episodes")
    else:
        image = plots.curves(results, shown, "regret", out_dir / "regret.png",
                             title=f"{cfg.experiment.name}: the {len(shown)} best settings", ylabel="cumulative regret")
    text = (f"{spec.method} search over {', '.join(spec.params)} of {cfg.base.label}: {len(rows)} settings x "
            f"{len(cfg.experiment.seeds)} seeds; best {spec.metric} ({spec.mode}): {best['policy']}. "
            "best.yaml re-runs the experiment with it.")
    notes = edge_notes(spec, best)
    if notes:
        text += "\n\nOn the edge: " + "; ".join(notes) + "."
    write_report(out_dir / "report.html", f"recloop sweep: {cfg.experiment.name}",
                 [Section(title="sweep", text=text, rows=ranked, images=[image])], config_text=sweep_text)


def tuned_config(cfg: SweepConfig, setting: dict[str, Any]) -> ExperimentConfig:
    """The original experiment with the swept policy's parameters set to ``setting``."""
    exp, i = cfg.experiment, cfg.index
    tuned = [p.model_copy(update={"params": {**p.params, **setting}}) if j == i else p
             for j, p in enumerate(exp.policies)]
    if i is None:
        tuned.append(PolicySpec(name=cfg.sweep.policy, params=dict(setting)))
    return parse_config({**exp.model_dump(mode="json"), "name": f"{exp.name}-tuned",
                         "policies": [p.model_dump(mode="json") for p in tuned]}, "tuned config")
