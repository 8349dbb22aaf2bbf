"""``recloop evaluate``, the demo stage, simulator logs from the bandit worlds, the OBD loader."""

from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest
from typer.testing import CliRunner

from recloop.apps.cli import app
from recloop.core.registry import make
from recloop.data.collect import collect_logs
from recloop.data.obd import bts_position_probs, bts_prior, fetch_open_bandit_dataset, load_open_bandit_dataset
from recloop.ope import evaluate_all, on_sample_truth
from recloop.ope.suite import target_probabilities


@pytest.fixture(scope="module")
def contextual_logs():
    env = make("env", "contextual", n_arms=4, n_features=3, horizon=500)
    behaviour = make("policy", "epsilon-greedy", n_arms=4, epsilon=0.5, seed=0)
    return collect_logs(env, behaviour, 3000, seed=0, update=True)


def test_collect_logs_on_the_contextual_world_gives_checkable_estimates(contextual_logs):
    logs = contextual_logs
    assert logs.expected_rewards.shape == (3000, 4) and (logs.propensity >= 0.5 / 4).all()
    target = make("policy", "linucb", n_arms=4, n_features=3, seed=0)
    target.update_batch(logs.action, logs.reward, logs.context)
    pe = target_probabilities(target, logs)
    np.testing.assert_allclose(pe.sum(axis=1), 1.0)
    truth = on_sample_truth(logs, pe)
    dr = next(e for e in evaluate_all(logs, pe) if e.estimator == "dr")
    assert abs(dr.value - truth) < 4 * dr.stderr


def test_evaluate_command_with_a_checkpoint_and_a_config(contextual_logs, tmp_path):
    path = contextual_logs.to_parquet(tmp_path / "logs.parquet")
    policy = make("policy", "linucb", n_arms=4, n_features=3, seed=0)
    policy.update_batch(contextual_logs.action, contextual_logs.reward, contextual_logs.context)
    ckpt = policy.save(tmp_path / "linucb.npz")
    runner = CliRunner()
    res = runner.invoke(app, ["evaluate", "--logs", str(path), "--policy", str(ckpt), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "dr" in res.output and "truth recorded" in res.output
    saved = json.loads((tmp_path / "o" / "estimates.json").read_text())
    assert {r["estimator"] for r in saved["estimates"]} >= {"ips", "snips", "dm", "dr", "switch_dr", "dr_os"}
    assert (tmp_path / "o" / "ope_estimates.png").stat().st_size > 1000
    cfg = tmp_path / "eg.yaml"
    cfg.write_text("policy: epsilon-greedy\nparams: {epsilon: 0.2}\n")
    res = runner.invoke(app, ["evaluate", "--logs", str(path), "--policy", str(cfg), "--out", str(tmp_path / "o2")])
    assert res.exit_code == 0, res.output


def test_evaluate_command_errors_are_clear(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["evaluate"])
    assert res.exit_code == 2 and "--logs" in res.output
    res = runner.invoke(app, ["evaluate", str(tmp_path / "agent.pt"), "--env", "breakout"])
    assert res.exit_code == 2
    assert "recloop.agents.deep.evaluate" in res.output or "no " in res.output.lower()


def test_demo_stage_writes_a_section_and_a_plot(tmp_path):
    from recloop.apps.demo.ope import demo_stage

    (section,) = demo_stage(tmp_path, seed=0)
    assert section.images[0].exists() and section.rows
    dr_rows = [r for r in section.rows if r["estimator"] == "dr"]
    assert len(dr_rows) == 3 and sum(r["covers"] for r in dr_rows) >= 2
    assert all(abs(r["error %"]) < 5 for r in dr_rows)


def _fake_obp_sdist(path):
    """A tiny stand-in for the obp sdist: same layout, 3 items, a handful of rows."""
    header = ",timestamp,item_id,position,click,propensity_score,user_feature_0,user-item_affinity_0\n"
    rows = "".join(f"{i},2019-11-24 00:00:{i:02d}+00:00,{i % 3},{1 + i % 3},{int(i % 4 == 0)},0.3333333,u{i % 2},0.0\n"
                   for i in range(12))
    items = ",item_id,item_feature_0\n0,0,0.1\n1,1,0.2\n2,2,0.3\n"
    prior = "all:\n  alpha: [1.0, 50.0, 1.0]\n  beta: [50.0, 1.0, 50.0]\n"
    with tarfile.open(path, "w:gz") as tar:
        for pol in ("random", "bts"):
            for name, text in ((f"{pol}/all/all.csv", header + rows), (f"{pol}/all/item_context.csv", items)):
                data = text.encode()
                info = tarfile.TarInfo(f"obp-0.5.7/obp/dataset/obd/{name}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("obp-0.5.7/obp/policy/conf/prior_bts.yaml")
        info.size = len(prior)
        tar.addfile(info, io.BytesIO(prior.encode()))


def test_open_bandit_dataset_cache_and_loader(tmp_path):
    sdist = tmp_path / "obp-0.5.7.tar.gz"
    _fake_obp_sdist(sdist)
    root = fetch_open_bandit_dataset(root=tmp_path / "obd", sdist=sdist)
    assert fetch_open_bandit_dataset(root=root) == root  # cached: no second fetch
    logs = load_open_bandit_dataset("random", "all", root=root)
    assert logs.n == 12 and logs.n_actions == 3 and set(logs.position) == {0, 1, 2}
    assert logs.context.shape == (12, 1 + 2)  # one user dummy + two position dummies
    alpha, beta = bts_prior("all", root=root)
    probs = bts_position_probs(alpha, beta, n_positions=2, n_sim=2000)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert probs[0, 1] > 0.99  # item 1 has by far the best prior: always on top
    with pytest.raises(ValueError, match="campaign"):
        load_open_bandit_dataset("random", "kids", root=root)
