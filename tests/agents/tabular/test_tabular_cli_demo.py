"""Smoke tests of `recloop maze`, `recloop trade` and the demo stage, on tiny budgets."""

import numpy as np
import typer
from typer.testing import CliRunner

from recloop.apps.commands import tabular as commands
from recloop.apps.demo.tabular import demo_stage
from recloop.envs.prices import regime_switching_prices

app = typer.Typer()
commands.register(app)
app.command("noop")(lambda: None)  # a second command keeps typer in multi-command mode
runner = CliRunner()


def test_maze_command(tmp_path):
    result = runner.invoke(app, ["maze", "--map", "classic", "--steps", "3000", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "V* by value iteration" in result.output and "→" in result.output
    assert (tmp_path / "maze-classic.png").stat().st_size > 1000
    bad = runner.invoke(app, ["maze", "--map", "nowhere", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "unknown maze map" in bad.output


def test_trade_command_with_csv(tmp_path):
    series = regime_switching_prices(300, seed=3)
    csv = tmp_path / "prices.csv"
    lines = ["Date,Open,Close"] + [f"{d},{c:.4f},{c:.4f}" for d, c in zip(series.dates, series.close)]
    csv.write_text("\n".join(lines))
    result = runner.invoke(app, ["trade", "--csv", str(csv), "--episodes", "2", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "buy and hold" in result.output and "Sharpe" in result.output
    assert (tmp_path / "equity-prices.png").stat().st_size > 1000
    csv.write_text("Date,Open\n2020-01-01,1\n")
    bad = runner.invoke(app, ["trade", "--csv", str(csv), "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "no price column" in bad.output


def test_demo_stage(tmp_path):
    sections = demo_stage(tmp_path, seed=0)
    assert [s.title.split(": ")[1] for s in sections] == [
        "a slippery labyrinth", "a Q-trader", "state-aware session recommendations"]
    for s in sections:
        assert s.rows and all(p.exists() for p in s.images)
    session = sections[2].rows
    assert session[1]["clicks/session (exact)"] > 1.5 * session[0]["clicks/session (exact)"]
    assert np.isfinite(sections[1].rows[0]["Sharpe"])


def test_docstring_examples():
    import doctest
    import importlib

    for name in ("agents.tabular.expected_sarsa", "planning.policy_iteration", "agents.tabular.q_learning",
                 "agents.tabular.sarsa", "planning.value_iteration", "envs.gridworld", "envs.prices",
                 "envs.tabular_reco", "envs.trading"):
        module = importlib.import_module(f"recloop.{name}")
        result = doctest.testmod(module, extraglobs={"np": np})
        assert result.failed == 0, module.__name__
