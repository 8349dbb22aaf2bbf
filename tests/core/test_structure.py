"""The structure's promises: one registry and builder, one config reader, named seed streams,
a light CLI, and the layer rules (checked by import-linter in `make lint`, and here)."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from recloop.core import registry
from recloop.core.config import ConfigError, parse_params, read_mapping
from recloop.core.seeding import derive, generator


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout


def test_importing_the_cli_and_listing_every_component_imports_no_torch_scipy_stats_or_ray():
    out = _run("import sys, recloop.apps.cli; from recloop.core import registry\n"
               "rows = [(k, n, registry.summary(k, n)) for k in registry.kinds() for n in registry.names(k)]\n"
               "print(len(rows), sorted(m for m in ('torch', 'scipy.stats', 'ray') if m in sys.modules))")
    n, heavy = out.split(" ", 1)
    assert int(n) > 40 and heavy.strip() == "[]"


def test_every_kind_lists_its_families_and_every_declared_name_resolves():
    assert {"slateq", "myopic-slate", "random-slate", "linucb", "q-learning"} <= set(registry.names("policy"))
    assert {"dqn", "ppo", "sac"} <= set(registry.names("agent"))
    for kind in registry.kinds():
        for name in registry.names(kind):
            module, attr = registry.target(kind, name).split(":")
            assert registry.lookup(kind, name).__name__ == attr, (kind, name)
    with pytest.raises(KeyError, match="unknown component kind 'envs'; known kinds: agent, env, policy"):
        registry.names("envs")


def test_build_fills_only_what_a_component_takes_and_names_a_misspelt_parameter():
    p = registry.build("policy", "linucb", {"alpha": 0.5}, n_arms=4, n_features=3, seed=1)
    assert (p.alpha, p.n_arms, p.n_features) == (0.5, 4, 3)
    q = registry.build("policy", "ucb1", None, n_arms=4, n_features=3, seed=1)   # takes no n_features
    assert q.n_arms == 4
    with pytest.raises(TypeError, match=r"agent 'dqn' has no hyper-parameter 'gama' \(did you mean 'gamma'\?\)"):
        registry.build("agent", "dqn", {"gama": 0.9})
    # the user's value wins over a default
    assert registry.build("policy", "linucb", {"n_features": 7}, n_arms=2, n_features=3).n_features == 7


def test_a_deep_agent_saves_under_its_registered_name_without_a_decorator(tmp_path):
    agent = registry.make("agent", "dqn", seed=0)
    assert registry.name_of(agent) == "dqn"
    from recloop.agents.deep.dqn import DQN   # imported directly, not through the registry

    assert registry.name_of(DQN) == "dqn"


def test_config_reader_reads_yaml_and_json_and_names_the_file(tmp_path):
    (tmp_path / "a.yaml").write_text("policy: linucb\nparams: {alpha: 0.5}\n")
    (tmp_path / "b.json").write_text('{"policy": "ucb1"}')
    (tmp_path / "c.yaml").write_text("- 1\n- 2\n")
    (tmp_path / "d.json").write_text("{not json")
    assert read_mapping(tmp_path / "a.yaml") == {"policy": "linucb", "params": {"alpha": 0.5}}
    assert read_mapping(tmp_path / "b.json") == {"policy": "ucb1"}
    with pytest.raises(ConfigError, match="c.yaml: expected a mapping at the top level, got list"):
        read_mapping(tmp_path / "c.yaml")
    with pytest.raises(ConfigError, match="d.json is not valid JSON"):
        read_mapping(tmp_path / "d.json")
    with pytest.raises(ConfigError, match="policy config file not found: .*nope.yaml"):
        read_mapping(tmp_path / "nope.yaml", "policy config")
    assert parse_params(["a=1", "b=x", "c=[1, 2]", "d="]) == {"a": 1, "b": "x", "c": [1, 2], "d": ""}


@given(st.integers(0, 2**31 - 1), st.text(min_size=1, max_size=8), st.text(min_size=1, max_size=8))
def test_named_streams_are_reproducible_and_independent(seed, a, b):
    assert generator(seed, a).random(3).tolist() == generator(seed, a).random(3).tolist()
    assert 0 <= derive(seed, a) < 2**31
    if a != b:
        assert generator(seed, a).random(3).tolist() != generator(seed, b).random(3).tolist()


def test_building_and_training_a_model_never_resets_torchs_global_generator():
    torch = pytest.importorskip("torch")
    import gymnasium as gym

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    agent = registry.make("agent", "dqn", seed=0, learning_starts=10, buffer_size=100)
    agent.learn(gym.make("CartPole-v1"), total_steps=30)
    assert torch.equal(torch.rand(3), expected)
    # and the same seed still gives the same initial network
    a, b = (registry.make("agent", "dqn", seed=5) for _ in range(2))
    for agent in (a, b):
        agent.learn(gym.make("CartPole-v1"), total_steps=1)
    assert all(torch.equal(x, y) for x, y in zip(a.q_.state_dict().values(), b.q_.state_dict().values()))


def test_replay_buffer_and_agent_draw_from_different_streams():
    torch = pytest.importorskip("torch")  # noqa: F841 - the deep agents need it
    import gymnasium as gym

    agent = registry.make("agent", "dqn", seed=3, learning_starts=100, buffer_size=50)
    agent.learn(gym.make("CartPole-v1"), total_steps=6)   # before learning starts: the buffer has not sampled
    replay = agent._buffer.rng.random(4)
    assert np.allclose(replay, np.random.default_rng(derive(3, "replay")).random(4))
    assert not np.allclose(replay, np.random.default_rng(3).random(4))   # the agent's own stream


def test_the_layer_rules_hold():
    lint = pytest.importorskip("importlinter")  # noqa: F841 - the dev extra installs it
    from pathlib import Path

    exe = Path(sys.executable).with_name("lint-imports")
    root = Path(__file__).resolve().parents[2]
    res = subprocess.run([str(exe)], cwd=root, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-3000:]
    assert "0 broken" in res.stdout
