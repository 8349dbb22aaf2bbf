"""`--track mlflow`: what `run`, `sweep` and `train` log, read back from a real MLflow store;
and the meta.json every run folder carries."""

import json

import numpy as np
import pyarrow.csv as pacsv
import pytest
import yaml
from typer.testing import CliRunner

from recloop.apps.cli import app
from recloop.experiment.provenance import run_metadata
from recloop.experiment.tracking import parse_track

mlflow = pytest.importorskip("mlflow", reason="the 'track' extra (mlflow-skinny) is not installed")
from mlflow.tracking import MlflowClient  # noqa: E402

EXPERIMENT = {
    "name": "tiny",
    "env": {"name": "bernoulli", "params": {"means": [0.2, 0.5, 0.8]}},
    "policies": [{"name": "ucb1"}, {"name": "epsilon-greedy", "label": "eg", "params": {"epsilon": 0.1}}],
    "horizon": 200,
    "seeds": 2,
    "record_every": 20,
}


def _runs(uri: str, experiment: str):
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no MLflow experiment {experiment!r} in {uri}"
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = {r.info.run_name: r for r in runs if "mlflow.parentRunId" in r.data.tags}
    return client, parents, children


def _artifacts(client, run_id: str, path: str | None = None) -> set[str]:
    return {a.path for a in client.list_artifacts(run_id, path)}


@pytest.mark.parametrize("store", ["file", "sqlite"])
def test_run_logs_params_curves_report_and_models(tmp_path, monkeypatch, store):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(EXPERIMENT))
    track = "mlflow:./mlruns" if store == "file" else f"mlflow:sqlite:///{tmp_path}/m.db"
    res = CliRunner().invoke(app, ["run", "exp.yaml", "--out", "out", "--track", track])
    assert res.exit_code == 0, res.output
    uri = parse_track(track).uri
    client, parents, children = _runs(uri, "recloop-run")
    assert len(parents) == 1 and set(children) == {"ucb1", "eg"}
    parent = parents[0]
    assert parent.data.params["env.name"] == "bernoulli" and parent.data.params["horizon"] == "200"
    assert parent.data.tags["recloop.version"] and parent.info.status == "FINISHED"
    assert {"report.html", "meta.json", "config.yaml", "metrics.parquet", "regret.png", "models"} <= \
        _artifacts(client, parent.info.run_id)
    assert _artifacts(client, parent.info.run_id, "models") == {
        f"models/{label}-seed{s}.npz" for label in ("ucb1", "eg") for s in (0, 1)}
    eg = children["eg"]
    assert eg.data.params["policy"] == "epsilon-greedy" and eg.data.params["policy.epsilon"] == "0.1"
    # the regret curve is the mean over seeds at every recorded round, as in the run's own table
    history = client.get_metric_history(eg.info.run_id, "regret")
    table = pacsv.read_csv(tmp_path / "out" / "metrics.csv").to_pylist()
    rows = [r for r in table if r["policy"] == "eg"]
    steps = sorted({r["step"] for r in rows})
    assert [m.step for m in sorted(history, key=lambda m: m.step)] == steps
    expected = np.mean([[r["regret"] for r in rows if r["step"] == s] for s in steps], axis=1)
    assert np.allclose([m.value for m in sorted(history, key=lambda m: m.step)], expected)
    summary = {r["policy"]: r for r in pacsv.read_csv(tmp_path / "out" / "summary.csv").to_pylist()}
    assert eg.data.metrics["final/oracle_share"] == pytest.approx(summary["eg"]["oracle_share"])


def test_sweep_logs_a_child_run_per_setting(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweep = {**EXPERIMENT, "policies": [{"name": "epsilon-greedy"}],
             "sweep": {"policy": "epsilon-greedy", "params": {"epsilon": [0.05, 0.2]}}}
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    res = CliRunner().invoke(app, ["sweep", "sweep.yaml", "--out", "sw", "--track", "mlflow:./mlruns"])
    assert res.exit_code == 0, res.output
    client, parents, children = _runs(parse_track("mlflow:./mlruns").uri, "recloop-sweep")
    assert len(parents) == 1 and len(children) == 2
    trials = {r["policy"]: r for r in pacsv.read_csv(tmp_path / "sw" / "trials.csv").to_pylist()}
    for name, run in children.items():
        assert run.data.metrics["final/regret"] == pytest.approx(trials[name]["regret"])
        assert run.data.params["policy.epsilon"] == str(trials[name]["epsilon"])
    assert {"best.yaml", "meta.json", "trials.csv"} <= _artifacts(client, parents[0].info.run_id)


def test_train_logs_scalars_and_checkpoint(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["train", "reinforce", "--env", "CartPole-v1", "--steps", "600",
                                   "--eval-episodes", "2", "--out", "tr", "--track", "mlflow:./mlruns"])
    assert res.exit_code == 0, res.output
    client, parents, _ = _runs(parse_track("mlflow:./mlruns").uri, "recloop-train")
    run = parents[0]
    assert run.data.params["agent"] == "reinforce" and run.data.params["steps"] == "600"
    returns = client.get_metric_history(run.info.run_id, "charts/episode_return")
    logged = [line.split(",") for line in (tmp_path / "tr" / "scalars.csv").read_text().splitlines()[1:]]
    assert len(returns) == sum(1 for _, key, _ in logged if key == "charts/episode_return") > 0
    assert "eval/final_mean_return" in run.data.metrics
    assert {"agent.npz", "meta.json", "learning_curve.png", "scalars.csv"} <= _artifacts(client, run.info.run_id)
    meta = json.loads((tmp_path / "tr" / "meta.json").read_text())
    assert meta["agent"] == "reinforce" and meta["seed"] == 0


def test_bad_track_value_fails_before_running(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(EXPERIMENT))
    res = CliRunner().invoke(app, ["run", "exp.yaml", "--out", "out", "--track", "wandb"])
    assert res.exit_code == 2 and "unknown tracker 'wandb'" in res.output
    assert not (tmp_path / "out").exists()


def test_meta_records_version_git_packages_machine_and_command(tmp_path):
    import recloop

    meta = run_metadata(["/some/venv/bin/recloop", "run", "a b.yaml"])
    assert meta["recloop_version"] == recloop.__version__
    assert meta["command"] == "recloop run 'a b.yaml'"
    assert meta["packages"]["numpy"] == np.__version__
    assert meta["machine"]["cpus"] >= 1 and meta["machine"]["python"]
    git = meta["git"]["recloop"]
    if git is not None:  # a source checkout: the revision is a full sha
        assert len(git["commit"]) == 40 and isinstance(git["dirty"], bool)
