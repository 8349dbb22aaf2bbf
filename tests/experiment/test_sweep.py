"""Sweeps without Ray: spec validation, search spaces, best.yaml re-runs to the same numbers, CLI."""

import math

import pytest
import yaml
from typer.testing import CliRunner

from recloop.apps.cli import app
from recloop.experiment.config import ConfigError, load_config
from recloop.experiment.run import run_experiment
from recloop.experiment.sweep import SweepSpec, load_sweep, parse_sweep, run_sweep, trials, tuned_config

EXPERIMENT = {
    "name": "toy",
    "env": {"name": "bernoulli", "params": {"means": [0.1, 0.9]}},
    "policies": [{"name": "ucb1"}, {"name": "epsilon-greedy", "label": "eg", "params": {"epsilon": 0.3}}],
    "horizon": 400,
    "seeds": 2,
}


def _errors(sweep: dict) -> str:
    with pytest.raises(ConfigError) as err:
        parse_sweep({**EXPERIMENT, "sweep": sweep})
    return str(err.value)


def test_bad_sweeps_get_errors_that_name_the_field():
    assert "no 'sweep' block" in str(pytest.raises(ConfigError, parse_sweep, EXPERIMENT).value)
    assert "sweep.params.epsilonn: policy 'epsilon-greedy' has no hyper-parameter 'epsilonn' (did you mean " \
           "'epsilon'?); it takes: epsilon" in _errors({"policy": "eg", "params": {"epsilonn": [0.1]}})
    assert "sweep.policy: 'egg' is neither a policy of the experiment (ucb1, eg)" in \
           _errors({"policy": "egg", "params": {"epsilon": [0.1]}})
    assert "sweep.params.epsilon: a range needs method: random" in \
           _errors({"policy": "eg", "params": {"epsilon": {"low": 0.01, "high": 1}}})
    assert "sweep.params.epsilon: low (1.0) must be below high (0.1)" in \
           _errors({"policy": "eg", "method": "random", "samples": 3, "params": {"epsilon": {"low": 1, "high": 0.1}}})
    assert "sweep.params.epsilon: a log range needs low > 0" in \
           _errors({"policy": "eg", "method": "random", "samples": 3,
                    "params": {"epsilon": {"low": 0, "high": 1, "log": True}}})
    assert "sweep.params.epsilon: give a list of values or a range" in \
           _errors({"policy": "eg", "params": {"epsilon": 0.1}})
    assert "method: random needs samples" in _errors({"policy": "eg", "method": "random", "params": {"epsilon": [0.1]}})
    msg = _errors({"policy": "eg", "params": {"epsilon": [0.1]}, "metric": "ctr", "colour": 1})
    assert "sweep.metric: Input should be 'regret'" in msg and "sweep.colour: unknown field" in msg
    assert "sweep.params.epsilon: give at least one value" in _errors({"policy": "eg", "params": {"epsilon": []}})


def test_grid_is_every_combination_and_random_search_is_seeded_and_in_range():
    grid = SweepSpec.model_validate({"policy": "linucb", "params": {"alpha": [0.1, 1.0], "l2": [1, 10, 100]}})
    assert len(trials(grid)) == 6 and trials(grid)[1] == {"alpha": 0.1, "l2": 10}
    assert grid.mode == "min" and SweepSpec.model_validate({**grid.model_dump(), "metric": "oracle_share",
                                                             "mode": None}).mode == "max"
    spec = SweepSpec.model_validate({"policy": "linucb", "method": "random", "samples": 200, "seed": 3,
                                     "params": {"alpha": {"low": 0.01, "high": 10, "log": True},
                                                "l2": {"low": 1, "high": 5, "integer": True}, "kind": ["a", "b"]}})
    draws = trials(spec)
    assert draws == trials(spec) and len(draws) == 200
    alphas = [d["alpha"] for d in draws]
    assert min(alphas) >= 0.01 and max(alphas) <= 10
    below_one = sum(a < 1 for a in alphas) / len(alphas)  # log-uniform: 2 of 3 decades lie below 1
    assert abs(below_one - 2 / 3) < 0.1
    assert {d["l2"] for d in draws} == {1, 2, 3, 4, 5} and {d["kind"] for d in draws} == {"a", "b"}
    choices = SweepSpec.model_validate({"policy": "eg", "method": "random", "samples": 50,
                                        "params": {"epsilon": [0.1, 0.2]}})
    assert sorted(d["epsilon"] for d in trials(choices)) == [0.1, 0.2]  # repeats are run once


def test_best_yaml_reruns_to_the_best_trials_numbers(tmp_path):
    cfg = parse_sweep({**EXPERIMENT, "sweep": {"policy": "eg", "method": "random", "samples": 4, "seed": 1,
                                               "params": {"epsilon": {"low": 0.01, "high": 1.0, "log": True}}}})
    res = run_sweep(cfg, tmp_path / "sweep", progress=False)
    epsilons = [t["epsilon"] for t in res.trials]
    assert res.best_params == {"epsilon": min(epsilons)}  # regret grows with epsilon on a two-arm world
    for name in ("best.yaml", "trials.csv", "sweep.yaml", "experiment.yaml", "metrics.parquet", "regret.png",
                 "report.html"):
        assert (tmp_path / "sweep" / name).stat().st_size > 0, name
    best = load_config(tmp_path / "sweep" / "best.yaml")
    assert [p.label for p in best.policies] == ["ucb1", "eg"] and best.policies[1].params == res.best_params
    rerun = run_experiment(best, write=False, progress=False)
    row = next(r for r in rerun.summary if r["policy"] == "eg")
    assert math.isclose(row["regret"], res.best["regret"], rel_tol=0, abs_tol=1e-12)


def test_cli_sweep_with_the_experiment_beside_it(tmp_path):
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(EXPERIMENT))
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(
        {"experiment": "exp.yaml", "sweep": {"policy": "epsilon-greedy", "params": {"epsilon": [0.5, 0.05]}}}))
    assert load_sweep(tmp_path / "sweep.yaml").base.label == "eg"  # found by its unique name
    runner = CliRunner()
    res = runner.invoke(app, ["sweep", str(tmp_path / "sweep.yaml"), "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert "best: eg epsilon=0.05" in " ".join(res.output.split())  # rich wraps long lines
    assert yaml.safe_load((tmp_path / "out" / "best.yaml").read_text())["policies"][1]["params"] == {"epsilon": 0.05}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"experiment": "exp.yaml", "horizon": 5,
                                                       "sweep": {"policy": "eg", "params": {"epsilon": [0.1]}}}))
    res = runner.invoke(app, ["sweep", str(tmp_path / "bad.yaml")])
    assert res.exit_code == 2 and "move horizon there" in " ".join(res.output.split())
    assert runner.invoke(app, ["sweep", "--help"]).exit_code == 0


def test_a_policy_outside_the_experiment_is_added_to_best_yaml():
    cfg = parse_sweep({**EXPERIMENT, "sweep": {"policy": "softmax", "params": {"temperature": [0.05, 0.5]}}})
    assert cfg.index is None and cfg.base.label == "softmax"
    tuned = tuned_config(cfg, {"temperature": 0.05})
    assert [p.label for p in tuned.policies] == ["ucb1", "eg", "softmax"]
    assert tuned.policies[-1].params == {"temperature": 0.05} and tuned.policies[1].params == {"epsilon": 0.3}


def test_a_best_value_on_the_grid_edge_is_reported(tmp_path):
    # epsilon-greedy on two arms 0.1 / 0.9: less exploration is better over these values, so the
    # best is the smallest epsilon tried, on the edge
    cfg = parse_sweep({**EXPERIMENT, "sweep": {"policy": "eg", "params": {"epsilon": [0.05, 0.3, 0.6]}}})
    result = run_sweep(cfg, tmp_path / "sw", progress=False)
    assert result.best["epsilon"] == 0.05
    assert result.edges == ["epsilon=0.05 is the smallest value tried: the best may lie below it; widen the grid"]
    assert "On the edge: epsilon=0.05" in (tmp_path / "sw" / "report.html").read_text()
    res = CliRunner().invoke(app, ["sweep", str(_write_sweep(tmp_path, {"epsilon": [0.05, 0.3, 0.6]})),
                                   "--out", str(tmp_path / "cli")])
    assert res.exit_code == 0 and "on the edge: epsilon=0.05 is the smallest value" in " ".join(res.output.split())
    from recloop.experiment.sweep import edge_notes

    assert edge_notes(cfg.sweep, {"epsilon": 0.3}) == []  # an interior best is not flagged
    ranged = SweepSpec.model_validate({"policy": "eg", "method": "random", "samples": 4,
                                       "params": {"epsilon": {"low": 0.01, "high": 1.0, "log": True}}})
    assert edge_notes(ranged, {"epsilon": 0.1}) == []
    assert "the largest value tried" in edge_notes(ranged, {"epsilon": 0.98})[0]  # within 5% of the log range


def _write_sweep(tmp_path, params: dict):
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump({**EXPERIMENT, "sweep": {"policy": "eg", "params": params}}))
    return path


def test_episodic_policies_sweep_their_return(tmp_path):
    cfg = parse_sweep({"name": "cliff", "env": {"name": "maze", "params": {"map": "cliff"}},
                       "policies": [{"name": "sarsa"}], "horizon": 3000, "seeds": 2,
                       "sweep": {"policy": "sarsa", "params": {"alpha": [0.02, 0.5]}}})
    assert cfg.sweep.metric == "mean_return" and cfg.sweep.mode == "max"
    result = run_sweep(cfg, tmp_path / "sw", progress=False)
    # a step size of 0.02 has barely learned the way round the cliff after 3000 steps; 0.5 has
    assert result.best["alpha"] == 0.5
    assert (tmp_path / "sw" / "return.png").is_file()
    bad = _errors_for({"name": "cliff", "env": {"name": "maze"}, "policies": [{"name": "sarsa"}], "horizon": 10,
                       "sweep": {"policy": "sarsa", "params": {"alpha": [0.1]}, "metric": "regret"}})
    assert "sweep.metric: regret is not measured for tabular policies; use mean_return" in bad


def _errors_for(data: dict) -> str:
    with pytest.raises(ConfigError) as err:
        parse_sweep(data)
    return str(err.value)
