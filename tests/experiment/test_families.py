"""`recloop run` beyond bandits: tabular on mazes, deep agents on Gymnasium worlds, slate policies;
configs it cannot run are refused before anything is written; plugins bring a user's own world."""

import textwrap

import numpy as np
import pyarrow.csv as pacsv
import pytest
import yaml
from typer.testing import CliRunner

from recloop.apps.cli import app
from recloop.experiment.config import ConfigError, parse_config
from recloop.experiment.run import run_experiment


def _run(tmp_path, cfg: dict, name: str = "exp"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / name)])


def test_tabular_on_the_cliff_learns_the_optimal_greedy_policy(tmp_path):
    from recloop.agents.tabular import QLearning
    from recloop.envs.gridworld import Maze
    from recloop.planning.policy_iteration import evaluate_policy

    cfg = parse_config({"name": "cliff", "env": {"name": "maze", "params": {"map": "cliff"}},
                        "policies": [{"name": "q-learning", "params": {"alpha": 0.5, "epsilon": 0.1}},
                                     {"name": "sarsa", "params": {"alpha": 0.5, "epsilon": 0.1}}],
                        "horizon": 5000, "seeds": 2, "record_every": 500})
    result = run_experiment(cfg, tmp_path / "out", progress=False)
    assert not result.errors
    assert result.table.column_names == ["policy", "seed", "step", "episodes", "episode_return", "cum_reward"]
    assert result.table.column("step").to_pylist()[:10] == list(range(500, 5001, 500))
    env = Maze("cliff")
    best = env.solve(0.99).values[env.start_state]
    for seed in (0, 1):  # Q-learning's greedy policy is optimal; its value is computed exactly from the model
        agent = QLearning.load(tmp_path / "out" / "models" / f"q-learning-seed{seed}.npz")
        value = evaluate_policy(env.P, env.R, agent.greedy_policy(), gamma=0.99)[env.start_state]
        assert value == pytest.approx(best, abs=1e-6)
    rows = {r["policy"]: r for r in result.summary}
    assert rows["sarsa"]["episodes"] > 50 and np.isfinite(rows["sarsa"]["mean_return"])
    assert (tmp_path / "out" / "return.png").is_file() and (tmp_path / "out" / "meta.json").is_file()


def test_deep_agent_on_a_gymnasium_id_beats_random(tmp_path):
    pytest.importorskip("torch")
    res = _run(tmp_path, {"name": "cartpole", "env": {"name": "CartPole-v1"}, "policies": [{"name": "ppo"}],
                          "horizon": 4000, "seeds": [0]})
    assert res.exit_code == 0, res.output
    summary = pacsv.read_csv(tmp_path / "exp" / "summary.csv").to_pylist()[0]
    # a uniformly random CartPole policy lasts about 22 steps; PPO after 4k steps clearly longer
    assert summary["mean_return"] > 35, summary
    assert (tmp_path / "exp" / "models" / "ppo-seed0.npz").is_file()


def test_slate_policies_run_the_library_training_loop(tmp_path):
    pytest.importorskip("torch")
    from recloop.agents.slate import RandomSlate, train
    from recloop.envs.slate import InterestEvolutionVectorEnv
    from recloop.experiment.families import episodic_columns
    from recloop.experiment.runner import policy_seed

    cfg = parse_config({"name": "slates", "env": {"name": "interest-evolution", "params": {"num_envs": 4}},
                        "policies": [{"name": "random-slate"}, {"name": "myopic-slate"}], "horizon": 800,
                        "seeds": [3], "record_every": 100})
    result = run_experiment(cfg, write=False, progress=False)
    assert not result.errors
    venv = InterestEvolutionVectorEnv(4)
    agent = RandomSlate(venv.num_candidates, venv.slate_size, seed=policy_seed(3, "random-slate"))
    history = train(agent, venv, 800, seed=3)
    expected = episodic_columns(list(zip(history["charts/step"], history["charts/episode_return"])), 800, 100)
    got = next(r for r in result.results if r.label == "random-slate")
    np.testing.assert_allclose(got.columns["cum_reward"], expected["cum_reward"])
    assert got.columns["episodes"][-1] > 0


@pytest.mark.parametrize("cfg, says", [
    ({"env": {"name": "maze"}, "policies": [{"name": "ucb1"}]},
     "gives no 'expected_reward', 'optimal_reward' in the info of step()"),
    ({"env": {"name": "maze"}, "policies": [{"name": "q-learning"}, {"name": "ucb1"}]},
     "policies mix bandit rounds (ucb1) with episodes (q-learning (tabular))"),
    ({"env": {"name": "CartPole-v1"}, "policies": [{"name": "sarsa"}]},
     "only deep agents (recloop list agent) run on it, not sarsa"),
    ({"env": {"name": "contextual"}, "policies": [{"name": "q-learning"}]},
     "tabular policies (q-learning) need Discrete observations and actions"),
    ({"env": {"name": "maze"}, "policies": [{"name": "dqn", "params": {"gama": 0.9}}]},
     "has no hyper-parameter 'gama' (did you mean 'gamma'?)"),
    ({"env": {"name": "maze"}, "policies": [{"name": "q-learning", "params": {"alpah": 0.1}}]},
     "has no hyper-parameter 'alpah' (did you mean 'alpha'?)"),
    ({"env": {"name": "maze"}, "policies": [{"name": "slateq"}]},
     "is a slate policy: it runs on interest-evolution or long-term-satisfaction"),
    ({"env": {"name": "interest-evolution"}, "policies": [{"name": "q-learning"}]},
     "shows slates: use a slate policy"),
])
def test_unsupported_configs_are_refused_before_anything_is_written(tmp_path, cfg, says):
    res = _run(tmp_path, {"name": "x", "horizon": 50, **cfg})
    assert res.exit_code == 2, res.output
    assert says in " ".join(res.output.split()), res.output
    assert not (tmp_path / "exp").exists()


def test_unknown_names_point_at_every_family():
    with pytest.raises(ConfigError) as err:
        parse_config({"env": {"name": "cartpole-v9"}, "policies": [{"name": "q-learnin"}], "horizon": 5})
    msg = str(err.value)
    assert "env.name: unknown env 'cartpole-v9'" in msg and "Gymnasium ids" in msg
    assert "Did you mean q-learning" in msg and "recloop list agent" in msg
    with pytest.raises(ConfigError, match="'sqn' is a next-item recommender .* use `recloop movielens train sqn`"):
        parse_config({"env": {"name": "maze"}, "policies": [{"name": "sqn"}], "horizon": 5})


PLUGIN = textwrap.dedent('''
    """A user's own world and policy, registered on import."""
    import gymnasium as gym
    import numpy as np
    from recloop.core.registry import register

    MEANS = np.array([0.3, 0.9])

    @register("env", "my-coins")
    class Coins(gym.Env):
        def __init__(self, horizon=100, report_truth=True):
            self.horizon, self.report_truth = horizon, report_truth
            self.action_space = gym.spaces.Discrete(2)
            self.observation_space = gym.spaces.Box(0.0, 1.0, (1,))

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.t = 0
            return np.zeros(1, np.float32), {}

        def step(self, action):
            self.t += 1
            reward = float(self.np_random.random() < MEANS[action])
            info = {"expected_reward": MEANS[action], "optimal_reward": MEANS.max()} if self.report_truth else {}
            return np.zeros(1, np.float32), reward, False, self.t >= self.horizon, info

    @register("policy", "always-first")
    class AlwaysFirst:
        def __init__(self, n_arms):
            self.n_arms = n_arms

        def act(self, obs=None, candidates=None):
            return 0

        def update(self, action, reward, obs=None):
            pass
''')


def test_plugins_bring_a_users_world_and_policy(tmp_path, monkeypatch):
    import sys

    from recloop.core import registry

    (tmp_path / "my_plugin_world.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    # the plugin's names go when the test does: other tests see the registry as shipped
    # (every provider loaded first, so nothing of recloop's own lands only in the copies)
    for kind in registry.kinds():
        registry.names(kind)
    monkeypatch.setattr(registry, "_REGISTRY", {k: dict(v) for k, v in registry._REGISTRY.items()})
    monkeypatch.setattr(registry, "_CANONICAL", {k: set(v) for k, v in registry._CANONICAL.items()})
    monkeypatch.setitem(sys.modules, "my_plugin_world", None)  # restored (removed) afterwards
    del sys.modules["my_plugin_world"]
    cfg = {"name": "coins", "plugins": ["my_plugin_world"], "env": {"name": "my-coins"},
           "policies": [{"name": "always-first"}, {"name": "ucb1"}], "horizon": 200, "seeds": 2}
    res = _run(tmp_path, cfg)
    assert res.exit_code == 0, res.output
    rows = {r["policy"]: r for r in pacsv.read_csv(tmp_path / "exp" / "summary.csv").to_pylist()}
    assert rows["always-first"]["regret"] == pytest.approx(200 * 0.6)  # exact: every round loses 0.9 - 0.3
    assert rows["ucb1"]["regret"] < rows["always-first"]["regret"]
    # the same world without the truth in info is refused, naming the keys and what they mean
    res = _run(tmp_path, {**cfg, "env": {"name": "my-coins", "params": {"report_truth": False}}}, "blind")
    assert res.exit_code == 2 and "the expected reward of the arm just played" in " ".join(res.output.split())
    assert not (tmp_path / "blind").exists()
    res = _run(tmp_path, {**cfg, "plugins": ["no_such_plugin_module"]}, "missing")
    assert res.exit_code == 2 and "cannot import plugin 'no_such_plugin_module'" in res.output
