"""Experiment tracking: ``--track mlflow[:URI]`` sends a run folder's contents to MLflow.

``recloop run``, ``sweep`` and ``train`` write their run folder first, then hand it to a
:class:`MlflowTracker`, so a tracking failure never loses a result. What is logged:

* ``run``: a parent MLflow run per experiment (its parameters, the report, plots, config,
  ``meta.json``, tables and the saved models as artifacts) and a child run per policy with
  that policy's hyper-parameters, its curves (mean over seeds, x = round or step) and its
  leaderboard numbers (``final/...``), so the MLflow UI compares policies side by side;
* ``sweep``: a parent run per sweep and a child run per setting (the swept values as
  parameters, the metric and the regret curve);
* ``train``: one run with the agent's hyper-parameters, every scalar of ``scalars.csv``
  at its step, the evaluation, the learning curve and the checkpoint.

The store defaults to MLflow's own default, ``sqlite:///mlflow.db`` in the working
directory (run ``mlflow ui`` there to browse it). ``mlflow:./mlruns`` (any path) uses
MLflow's file store, which MLflow 3 keeps only in maintenance mode; ``mlflow:http://...``
a tracking server. Only ``mlflow-skinny`` is needed to log (the ``track`` extra); the UI
comes with the full ``mlflow`` package.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

DEFAULT_URI = "sqlite:///mlflow.db"
_SCHEMES = ("sqlite:", "file:", "http:", "https:", "postgresql:", "mysql:", "databricks")
_MAX_PARAM = 6000  # MLflow's limit on a parameter value's length


@dataclass(frozen=True, slots=True)
class TrackSpec:
    """A parsed ``--track`` value: the backend and its store URI."""

    backend: str
    uri: str


def parse_track(text: str) -> TrackSpec:
    """``mlflow`` -> the default store; ``mlflow:URI`` -> that store (a bare path is a file store).

    >>> parse_track("mlflow")
    TrackSpec(backend='mlflow', uri='sqlite:///mlflow.db')
    >>> parse_track("mlflow:sqlite:///x.db").uri
    'sqlite:///x.db'
    >>> parse_track("wandb")
    Traceback (most recent call last):
    ...
    ValueError: unknown tracker 'wandb'; use mlflow or mlflow:URI (e.g. mlflow:./mlruns, mlflow:sqlite:///mlflow.db, mlflow:http://127.0.0.1:5000)
    """
    backend, _, uri = text.partition(":")
    if backend != "mlflow":
        raise ValueError(f"unknown tracker {backend!r}; use mlflow or mlflow:URI (e.g. mlflow:./mlruns, "
                         "mlflow:sqlite:///mlflow.db, mlflow:http://127.0.0.1:5000)")
    if not uri:
        return TrackSpec("mlflow", DEFAULT_URI)
    if not uri.startswith(_SCHEMES):
        uri = Path(uri).expanduser().resolve().as_uri()  # a folder: MLflow's file store
    return TrackSpec("mlflow", uri)


def flatten(params: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested parameters as MLflow wants them: dotted keys, string values within its length limit.

    >>> flatten({"env": {"name": "maze", "params": {"slip": 0.1}}, "seeds": [0, 1]})
    {'env.name': 'maze', 'env.params.slip': '0.1', 'seeds': '[0, 1]'}
    """
    out: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = str(value)[:_MAX_PARAM]
    return out


class MlflowTracker:
    """Logs to one MLflow store through ``MlflowClient`` (no global active-run state)."""

    def __init__(self, spec: TrackSpec, experiment: str):
        try:
            from mlflow.tracking import MlflowClient
        except ImportError as err:
            raise ImportError("--track mlflow needs MLflow: pip install 'recloop[track]' "
                              "(or pip install mlflow-skinny alembic sqlalchemy)") from err
        if spec.uri.startswith("file:"):
            # MLflow 3 refuses its file store unless asked for it; a path given to --track is that ask
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.uri = spec.uri
        self.client = MlflowClient(tracking_uri=spec.uri)
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = found.experiment_id if found else self.client.create_experiment(experiment)

    def start(self, name: str, params: dict[str, Any] | None = None, *, parent: str | None = None,
              tags: dict[str, str] | None = None) -> str:
        """A new run; returns its id. ``parent`` nests it under another run."""
        tags = dict(tags or {})
        if parent:
            tags["mlflow.parentRunId"] = parent
        run = self.client.create_run(self.experiment_id, run_name=name, tags=tags)
        if params:
            self.params(run.info.run_id, params)
        return run.info.run_id

    def params(self, run_id: str, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        flat = list(flatten(params).items())
        for i in range(0, len(flat), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(run_id, params=[Param(k, v) for k, v in flat[i:i + 100]])

    def metrics(self, run_id: str, values: dict[str, float], step: int = 0) -> None:
        self.series(run_id, {k: ([step], [v]) for k, v in values.items()})

    def series(self, run_id: str, curves: dict[str, tuple[Iterable[int], Iterable[float]]]) -> None:
        """Each key's values at their steps, batched (MLflow's limit: 1000 metrics per call)."""
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(key, float(v), now, int(s)) for key, (steps, values) in curves.items()
                 for s, v in zip(steps, values) if v is not None and math.isfinite(float(v))]
        for i in range(0, len(batch), 1000):
            self.client.log_batch(run_id, metrics=batch[i:i + 1000])

    def artifacts(self, run_id: str, folder: str | os.PathLike, path: str | None = None) -> None:
        self.client.log_artifacts(run_id, str(folder), path)

    def finish(self, run_id: str, ok: bool = True) -> None:
        self.client.set_terminated(run_id, "FINISHED" if ok else "FAILED")


def open_tracker(track: str | None, experiment: str) -> MlflowTracker | None:
    """The tracker for a ``--track`` value (None: no tracking); raises ValueError/ImportError."""
    if not track:
        return None
    return MlflowTracker(parse_track(track), experiment)


def _tags(out_dir: Path) -> dict[str, str]:
    import json

    meta_path = out_dir / "meta.json"
    if not meta_path.is_file():
        return {}
    meta = json.loads(meta_path.read_text())
    tags = {"recloop.version": meta.get("recloop_version", ""), "recloop.command": meta.get("command", "")[:5000]}
    git = (meta.get("git") or {}).get("recloop") or {}
    if git:
        tags["mlflow.source.git.commit"] = git["commit"]
        tags["recloop.git.dirty"] = str(git["dirty"])
    return tags


def _mean_curves(results: list, label: str, columns: tuple[str, ...]) -> dict[str, tuple[list, list]]:
    """The mean over seeds of each column at the recorded steps (seeds share their steps)."""
    import numpy as np

    runs = [r for r in results if r.label == label and r.error is None]
    if not runs:
        return {}
    steps = runs[0].columns["step"]
    out = {}
    for col in columns:
        if col in runs[0].columns and all(len(r.columns.get(col, ())) == len(steps) for r in runs):
            out[col] = (steps.tolist(), np.mean([r.columns[col] for r in runs], axis=0).tolist())
    if "cum_reward" in out and "regret" in out:  # a bandit's reward per round (episodic runs: see episode_return)
        out["mean_reward"] = (steps.tolist(), (np.asarray(out["cum_reward"][1]) / steps).tolist())
    return out


CURVES = ("regret", "expected_reward", "cum_reward", "episode_return")


def track_experiment(tracker: MlflowTracker, result: Any) -> str:
    """Log an :class:`~recloop.experiment.run.ExperimentResult` (its run folder already written)."""
    cfg, out_dir = result.config, Path(result.out_dir)
    parent = tracker.start(cfg.name, {"env": cfg.env.model_dump(mode="json"), "horizon": cfg.horizon,
                                      "seeds": cfg.seeds, "backend": cfg.backend},
                           tags={**_tags(out_dir), "recloop.command_name": "run"})
    for spec in cfg.policies:
        row = next((r for r in result.summary if r["policy"] == spec.label), {})
        child = tracker.start(spec.label, {"policy": spec.name, **flatten(spec.params, "policy."),
                                           "env": cfg.env.model_dump(mode="json"), "horizon": cfg.horizon,
                                           "seeds": cfg.seeds}, parent=parent)
        tracker.series(child, _mean_curves(result.results, spec.label, CURVES))
        tracker.metrics(child, {f"final/{k}": v for k, v in row.items() if isinstance(v, (int, float))},
                        step=cfg.horizon)
        tracker.finish(child, ok=bool(row.get("runs")))
    tracker.artifacts(parent, out_dir)
    tracker.finish(parent, ok=not result.errors)
    return parent


def track_sweep(tracker: MlflowTracker, result: Any) -> str:
    """Log a :class:`~recloop.experiment.sweep.SweepResult`: a child run per setting."""
    cfg, out_dir = result.config, Path(result.out_dir)
    spec, exp = cfg.sweep, cfg.experiment
    parent = tracker.start(f"{exp.name}-sweep", {"sweep": spec.model_dump(mode="json", exclude_none=True),
                                                 "env": exp.env.model_dump(mode="json"), "horizon": exp.horizon,
                                                 "seeds": exp.seeds},
                           tags={**_tags(out_dir), "recloop.command_name": "sweep"})
    for row in result.trials:
        child = tracker.start(row["policy"], {"policy": cfg.base.name, **flatten(cfg.base.params, "policy."),
                                              **{f"policy.{k}": row[k] for k in spec.params}}, parent=parent)
        tracker.series(child, _mean_curves(result.results, row["policy"], CURVES))
        tracker.metrics(child, {f"final/{spec.metric}": row[spec.metric],
                                f"final/{spec.metric}_sd": row[f"{spec.metric}_sd"],
                                "final/runs": row["runs"], "final/failed": row["failed"]}, step=exp.horizon)
        tracker.finish(child, ok=bool(row["runs"]))
    tracker.metrics(parent, {f"final/best_{spec.metric}": result.best[spec.metric]}, step=exp.horizon)
    tracker.params(parent, {f"best.{k}": v for k, v in result.best_params.items()})
    tracker.artifacts(parent, out_dir)
    tracker.finish(parent)
    return parent


def track_training(tracker: MlflowTracker, name: str, params: dict[str, Any], rows: list[tuple[int, str, float]],
                   final: dict[str, float], out_dir: Path, steps: int) -> str:
    """Log one ``recloop train`` run: hyper-parameters, every scalar at its step, the run folder."""
    run = tracker.start(name, params, tags={**_tags(Path(out_dir)), "recloop.command_name": "train"})
    curves: dict[str, tuple[list, list]] = {}
    for step, key, value in rows:
        s, v = curves.setdefault(key, ([], []))
        s.append(step)
        v.append(value)
    tracker.series(run, curves)
    tracker.metrics(run, final, step=steps)
    tracker.artifacts(run, out_dir)
    tracker.finish(run)
    return run
