import numpy as np
import pyarrow.parquet as pq
import pytest
import typer
import yaml
from typer.testing import CliRunner

from recloop.apps.cli import app
from recloop.experiment.config import ConfigError, load_config, parse_config
from recloop.experiment.run import run_experiment
from recloop.experiment.runner import execute, jobs_for

BASE = {
    "name": "tiny",
    "env": {"name": "bernoulli", "params": {"means": [0.2, 0.5, 0.8]}},
    "policies": [{"name": "random"}, {"name": "ucb1"}, {"name": "thompson", "label": "TS"}],
    "horizon": 300,
    "seeds": 2,
}


def test_config_errors_name_the_bad_field(tmp_path):
    bad = {**BASE, "policies": [{"name": "ucb2"}], "horizon": 0, "colour": "red"}
    with pytest.raises(ConfigError) as err:
        parse_config(bad)
    msg = str(err.value)
    assert "policies.0.name: unknown policy 'ucb2'" in msg and "Did you mean" in msg and "ucb1" in msg
    assert "horizon:" in msg and "colour: unknown field" in msg
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "broken.yaml").write_text("env: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "broken.yaml")
    with pytest.raises(ConfigError, match="labels must be unique"):
        parse_config({**BASE, "policies": [{"name": "ucb1"}, {"name": "ucb1"}]})


def test_same_config_same_numbers_and_process_backend_agrees():
    cfg = parse_config(BASE)
    a = run_experiment(cfg, write=False, progress=False)
    b = run_experiment(cfg, write=False, progress=False)
    assert a.table.equals(b.table)
    par = execute(jobs_for(cfg), "process", n_jobs=2)
    for x, y in zip(a.results, par):
        for col in x.columns:
            np.testing.assert_array_equal(x.columns[col], y.columns[col])


def test_leaderboard_ranks_learners_above_random():
    res = run_experiment(parse_config({**BASE, "horizon": 1000, "seeds": 3}), write=False, progress=False)
    order = [r["policy"] for r in res.summary]
    assert order[-1] == "random"
    assert res.summary[0]["oracle_share"] > 0.9


def test_a_failing_run_is_reported_and_the_rest_complete():
    cfg = parse_config({**BASE, "policies": [{"name": "ucb1"}, {"name": "gittins"}],
                        "env": {"name": "gaussian", "params": {"n_arms": 3}}})
    res = run_experiment(cfg, write=False, progress=False)
    assert {r.label for r in res.errors} == {"gittins"}  # Gittins refuses non-binary rewards
    assert "rewards must be 0 or 1" in res.errors[0].error
    assert [r["policy"] for r in res.summary if r["runs"]] == ["ucb1"]


def test_run_folder_has_config_table_plots_and_report(tmp_path):
    res = run_experiment(parse_config(BASE), tmp_path / "run", progress=False)
    out = res.out_dir
    for name in ("config.yaml", "metrics.parquet", "metrics.csv", "summary.csv", "regret.png", "reward.png",
                 "report.html"):
        assert (out / name).stat().st_size > 0, name
    table = pq.read_table(out / "metrics.parquet")
    assert set(table.column("policy").to_pylist()) == {"random", "ucb1", "TS"}
    assert yaml.safe_load((out / "config.yaml").read_text())["horizon"] == 300
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "ucb1" in html


def test_cli_run_and_list(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(BASE))
    runner = CliRunner()
    res = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out"), "--seeds", "1"])
    assert res.exit_code == 0, res.output
    assert "ucb1" in res.output and (tmp_path / "out" / "report.html").exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**BASE, "policies": [{"name": "linucbb"}]}))
    res = runner.invoke(app, ["run", str(bad)])
    assert res.exit_code == 2 and "unknown policy 'linucbb'" in res.output
    res = runner.invoke(app, ["list", "policy"])
    assert res.exit_code == 0 and "LinUCB" in res.output


def test_every_command_has_help_that_names_its_options():
    runner = CliRunner()
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    commands = [c.name for c in typer.main.get_command(app).commands.values()]
    assert {"run", "demo", "list", "serve", "evaluate", "train", "maze", "slate", "movielens"} <= set(commands)
    for cmd, option in (("run", "--backend"), ("demo", "--only"), ("evaluate", "--logs"), ("serve", "--policy"),
                        ("train", "--steps"), ("sweep", "--out")):
        sub = runner.invoke(app, [cmd, "--help"], terminal_width=200)
        assert sub.exit_code == 0 and option in sub.output, (cmd, sub.output[-500:])
