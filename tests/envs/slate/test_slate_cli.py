"""Smoke tests: the ``recloop slate`` command, the demo stage and the example, on tiny budgets."""

import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from recloop.apps.commands import slate as commands

# A fresh app with our command beside another one, so `slate` is a sub-command whatever
# other areas have registered yet (typer collapses a one-command app into its root).
app = typer.Typer()
commands.register(app)


@app.command("other")
def _other() -> None:
    pass

ROOT = Path(__file__).resolve().parents[3]


def test_cli_slate(tmp_path):
    res = CliRunner().invoke(app, ["slate", "--steps", "300", "--eval-users", "16", "--agents", "slateq,random",
                                   "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "slateq" in res.output and (tmp_path / "slate_interest-evolution.png").stat().st_size > 1000
    res = CliRunner().invoke(app, ["slate", "--env", "nope", "--out", str(tmp_path)])
    assert res.exit_code != 0 and "unknown env" in res.output


def test_cli_slate_long_term_satisfaction(tmp_path):
    res = CliRunner().invoke(app, ["slate", "--env", "long-term-satisfaction", "--steps", "200",
                                   "--eval-users", "8", "--agents", "myopic,random", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output


def test_demo_stage(tmp_path, monkeypatch):
    from recloop.apps.demo import slate as demo
    monkeypatch.setattr(demo, "STEPS", 300)
    monkeypatch.setattr(demo, "EVAL_USERS", 16)
    (section,) = demo.demo_stage(tmp_path, seed=0)
    assert {r["agent"] for r in section.rows} == {"slateq", "myopic", "random"}
    assert all(p.exists() for p in section.images)


@pytest.mark.slow
def test_example_runs():
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "slate_quickstart.py"), "--steps", "300",
                          "--eval-users", "16"], capture_output=True, text=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "slateq" in out.stdout
