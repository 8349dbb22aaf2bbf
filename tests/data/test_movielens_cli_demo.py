"""The `recloop movielens` commands and the MovieLens demo stage (on a small GroupLens folder)."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from recloop.apps.commands.movielens import register
from recloop.data.movielens import cache_dir

ROWS = [(u, i, 1 + (u + i) % 5, 10 * u + i) for u in range(1, 9) for i in range(1, 16) if (u + i) % 4]


def app():
    a = typer.Typer()
    register(a)

    @a.callback()
    def _root():  # keeps `movielens` a sub-command group
        pass

    return a


def test_recommend_and_train(tmp_path, write_grouplens):
    data = tmp_path / "gl"
    write_grouplens(data, ROWS)
    runner = CliRunner()
    res = runner.invoke(app(), ["movielens", "recommend", "--user", "2", "-k", "3", "--data", str(data)])
    assert res.exit_code == 0, res.output
    assert "Top 3 for user 2" in res.output and "Movie" in res.output
    ckpt = tmp_path / "m.npz"
    res = runner.invoke(app(), ["movielens", "train", "pop", "--data", str(data), "--out", str(ckpt)])
    assert res.exit_code == 0, res.output
    assert ckpt.exists() and "ndcg@10" in res.output
    res = runner.invoke(app(), ["movielens", "recommend", "--user", "2", "--model", str(ckpt), "--data", str(data), "-k", "2"])
    assert res.exit_code == 0 and "(pop)" in res.output


def test_bad_input_is_a_clear_error(tmp_path, write_grouplens):
    data = tmp_path / "gl"
    write_grouplens(data, ROWS)
    runner = CliRunner()
    res = runner.invoke(app(), ["movielens", "recommend", "--user", "999", "--data", str(data)])
    assert res.exit_code == 2 and "unknown user id 999" in res.output
    res = runner.invoke(app(), ["movielens", "recommend", "--user", "1", "-k", "500", "--data", str(data)])
    assert res.exit_code == 2 and "k=500" in res.output
    res = runner.invoke(app(), ["movielens", "recommend", "--user", "1", "--data", str(tmp_path / "none")])
    assert res.exit_code == 2 and "does not" in res.output and "MovieLens folder" in res.output
    res = runner.invoke(app(), ["movielens", "train", "gru5rec", "--data", str(data)])
    assert res.exit_code == 2 and "unknown recommender" in res.output
    res = runner.invoke(app(), ["movielens", "train", "gru4rec", "-p", "lr_shedule=linear", "--data", str(data)])
    assert res.exit_code == 2 and "no hyper-parameter 'lr_shedule'" in res.output and "lr_schedule" in res.output


@pytest.mark.skipif(not (cache_dir() / "ml-100k" / "ml-100k.inter").is_file(), reason="ML-100k not cached here")
def test_demo_stage_on_ml100k(tmp_path, monkeypatch):
    from recloop.apps.demo import movielens as movielens_demo

    monkeypatch.setattr(movielens_demo, "BUDGET_CPU_S", 1.0)
    (section,) = movielens_demo.demo_stage(tmp_path, seed=0)
    assert [r["model"] for r in section.rows] == ["pop", "itemknn", "sqn"]
    assert section.images[0].exists()
    knn, pop = section.rows[1], section.rows[0]
    assert knn["ndcg@10"] > pop["ndcg@10"]


def test_train_takes_hyper_parameters(tmp_path, write_grouplens):
    data = tmp_path / "gl"
    write_grouplens(data, ROWS)
    runner = CliRunner()
    ckpt = tmp_path / "knn.npz"
    res = runner.invoke(app(), ["movielens", "train", "itemknn", "-p", "neighbours=3", "--data", str(data), "--out", str(ckpt)])
    assert res.exit_code == 0, res.output
    from recloop.agents.reco import load_recommender

    assert load_recommender(ckpt).get_params()["neighbours"] == 3
    res = runner.invoke(app(), ["movielens", "train", "itemknn", "-p", "neighbours", "--data", str(data)])
    assert res.exit_code == 2 and "KEY=VALUE" in res.output
    res = runner.invoke(app(), ["movielens", "train", "itemknn", "-p", "colour=3", "--data", str(data)])
    assert res.exit_code == 2 and "colour" in res.output
    res = runner.invoke(app(), ["movielens", "train", "gru4rec", "-p", "lr_schedule=cosine", "--data", str(data)])
    assert res.exit_code == 2 and "lr_schedule must be 'constant' or 'linear'" in res.output


@pytest.mark.skipif(not (cache_dir() / "ml-100k" / "ml-100k.inter").is_file(), reason="ML-100k not cached here")
def test_simulate_shows_one_users_episode(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app(), ["movielens", "simulate", "--policy", "taste", "--user", "42", "--seed", "3"],
                        env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "true rating" in res.output and "boredom" in res.output and "return" in res.output
    assert ("patience used up" in res.output) or ("stayed to the end" in res.output)
    agent = tmp_path / "rerank.npz"
    res = runner.invoke(app(), ["movielens", "simulate", "--policy", "dqn", "--agent", str(agent),
                                "--train-steps", "60", "--seed", "1"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert agent.exists() and "shortlist #" in res.output
    res = runner.invoke(app(), ["movielens", "simulate", "--policy", "dqn", "--agent", str(agent), "--candidates", "10"])
    assert res.exit_code == 2 and "expects observations" in res.output
    res = runner.invoke(app(), ["movielens", "simulate", "--policy", "greedy"])
    assert res.exit_code == 2 and "unknown policy 'greedy'" in res.output
