"""The CLI's small promises: clear errors that list the choices, honest --seed claims, progress
while the demo runs, plots that do not mislead."""

import re
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from recloop.apps.cli import app

ROOT = Path(__file__).resolve().parents[2]


def _flat(text: str) -> str:
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def test_list_with_a_misspelt_kind_lists_the_kinds():
    res = CliRunner().invoke(app, ["list", "enf"])
    assert res.exit_code == 2
    assert "unknown component kind 'enf'; known kinds: agent, env, policy, recommender" in _flat(res.output)
    plural = CliRunner().invoke(app, ["list", "envs"])
    assert plural.exit_code == 0 and "maze" in plural.output and "interest-evolution" in plural.output


def test_list_policy_shows_every_family_run_takes():
    pytest.importorskip("torch")
    out = CliRunner().invoke(app, ["list", "policy"]).output
    for name in ("ucb1", "q-learning", "slateq", "random-slate"):
        assert re.search(rf"^{name}\s", out, re.M), name


def test_demo_only_with_an_unknown_stage_lists_the_stages(tmp_path):
    res = CliRunner().invoke(app, ["demo", "--only", "foo", "--out", str(tmp_path / "d")])
    assert res.exit_code == 2
    assert "unknown demo stage(s): foo; stages: bandits, tabular, deep, slate, ope, movielens, serve" in \
        _flat(res.output)
    assert not (tmp_path / "d").exists()


def test_demo_says_what_a_stage_does_before_it_runs(tmp_path, monkeypatch):
    import types

    from recloop.apps.demo import run as demo_run

    console = Console(record=True, width=200)
    seen_before = []

    def stage(out_dir, seed):
        seen_before.append(console.export_text(clear=False))
        return []

    monkeypatch.setitem(__import__("sys").modules, "fake_stage", types.SimpleNamespace(demo_stage=stage))
    monkeypatch.setattr(demo_run, "STAGES", [("tabular", "fake_stage")])
    demo_run.run_demo(tmp_path / "d", only=["tabular"], console=console)
    assert f"tabular: {demo_run.DOING['tabular']} ..." in seen_before[0]


def test_train_with_a_misspelt_hyperparameter_suggests_the_name(tmp_path):
    pytest.importorskip("torch")
    (tmp_path / "dqn.yaml").write_text("gama: 0.9\n")
    res = CliRunner().invoke(app, ["train", "dqn", "--config", str(tmp_path / "dqn.yaml"), "--steps", "10",
                                   "--out", str(tmp_path / "run")])
    assert res.exit_code == 2
    assert "agent 'dqn' has no hyper-parameter 'gama' (did you mean 'gamma'?)" in _flat(res.output)
    assert not (tmp_path / "run").exists()


# Commands that draw no random numbers, so a --seed would be a knob that does nothing.
DETERMINISTIC = {"list", "movielens recommend", "data fetch"}


def _commands(group, prefix=""):
    import typer.main

    click = typer.main.get_command(group) if not hasattr(group, "commands") else group
    for name, cmd in click.commands.items():
        full = f"{prefix}{name}"
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, full + " ")
        else:
            yield full, cmd


def test_every_command_that_draws_random_numbers_takes_seed_as_the_readme_says():
    commands = dict(_commands(app))
    assert DETERMINISTIC <= set(commands)
    for name, cmd in commands.items():
        has_seed = any("--seed" in p.opts for p in cmd.params)
        assert has_seed == (name not in DETERMINISTIC), name
    readme = (ROOT / "README.md").read_text()
    assert "each has --help; every one that draws random numbers has --seed" in readme


def test_maze_heat_map_does_not_colour_the_cliff():
    from recloop.apps.studies import maze_figure, maze_study

    study = maze_study("cliff", steps=2000, seed=0)
    fig = maze_figure(study)
    env = study.env
    for ax in fig.axes[::2]:  # the two heat maps (the others are colour bars)
        shown = ax.images[0].get_array()
        for i, j in env.cells:
            assert bool(np.ma.getmaskarray(shown)[i, j]) == (env.rows[i][j] in "GT")
        # the brightest coloured cell is one the walker stands on: next to the goal, not the cliff
        i, j = np.unravel_index(np.ma.argmax(shown), shown.shape)
        assert env.rows[i][j] == "."


def test_bar_charts_keep_their_zero_baseline():
    from recloop.apps.slate_compare import comparison_figure

    rows = [{"agent": a, "mean_return": m, "sem": 1.0, "curve": []} for a, m in (("slateq", 201.0),
                                                                                 ("random", 154.0))]
    ax = comparison_figure(rows, title="t").axes[0]
    assert ax.get_ylim()[0] <= 0.0 < 201.0 <= ax.get_ylim()[1]


def test_demo_skips_the_movielens_stage_when_its_data_is_not_set_up(tmp_path, monkeypatch):
    from recloop.apps.demo import run as demo_run

    monkeypatch.setenv("RECLOOP_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(demo_run, "STAGES", [("movielens", "recloop.apps.demo.movielens")])
    console = Console(record=True, width=300)
    report = demo_run.run_demo(tmp_path / "d", only=["movielens"], console=console)
    text = console.export_text()
    assert "stage movielens skipped: MovieLens-100k is not set up" in text and "recloop data fetch" in text
    assert "movielens (skipped)" in report.read_text()
