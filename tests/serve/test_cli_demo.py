"""CLI commands (serve, traffic) and the demo stage, on tiny budgets."""

import typer
from typer.testing import CliRunner

from recloop.serve.app import create_app
from recloop.apps.commands.serve import register
from recloop.serve.runner import BackgroundServer

cli = typer.Typer()
register(cli)


def test_serve_refuses_an_unknown_policy_with_suggestions(tmp_path):
    r = CliRunner().invoke(cli, ["serve", "--policy", "linucbb", "--db", f"sqlite:///{tmp_path}/x.db"])
    assert r.exit_code == 2 and "unknown policy 'linucbb'" in r.output and "linucb" in r.output
    r = CliRunner().invoke(cli, ["serve", "--param", "alpha"])
    assert r.exit_code == 2 and "KEY=VALUE, got 'alpha'" in r.output


def test_traffic_plays_users_against_a_live_service(sqlite_db, tmp_path, config, monkeypatch):
    monkeypatch.delenv("RECLOOP_API_KEY", raising=False)
    app = create_app(config(sqlite_db, tmp_path, n_features=16, sqlite_synchronous="OFF"))
    with BackgroundServer(app) as url:
        r = CliRunner().invoke(cli, ["traffic", "--url", url, "--users", "60", "--window", "30"])
        assert r.exit_code == 0, r.output
        assert "users      1-30" in r.output and "60 users in" in r.output and "errors" not in r.output
        assert app.state.service.store.counts() == {"decisions": 60, "rewards": 60}
    r = CliRunner().invoke(cli, ["traffic", "--url", url, "--users", "5"])
    assert r.exit_code == 1 and "cannot reach" in r.output


def test_demo_stage_reports_ctr_and_writes_a_png(tmp_path):
    from recloop.apps.demo.serve import demo_stage
    (section,) = demo_stage(tmp_path, seed=0, n_users=200)
    assert section.images[0].exists() and section.images[0].stat().st_size > 10_000
    assert len(section.rows) == 4 and {"users", "CTR", "regret/user"} == set(section.rows[0])
    assert "200 simulated users" in section.text and "errors: none" in section.text
