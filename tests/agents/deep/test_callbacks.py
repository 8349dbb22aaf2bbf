import csv

import numpy as np
import pytest

from recloop.agents.deep import (A2C, CEM, DQN, CheckpointCallback, EarlyStop, EpisodeEnd, EvalCallback, EvalEnd,
                                 Progress, ScalarLogger, UpdateEnd, evaluate_checkpoint, evaluate_policy)

from .toy_envs import IdentityEnv


def test_events_are_typed_and_logged_to_csv(tmp_path):
    seen = []
    log = ScalarLogger(tmp_path / "scalars.csv")
    ev = EvalCallback(IdentityEnv(), every=100, episodes=3)
    A2C(seed=0, hidden=(8,), n_envs=2, n_steps=5).learn(IdentityEnv(), 300, callbacks=[log, ev, seen.append])
    kinds = {type(e) for e in seen}
    assert {Progress, EpisodeEnd, UpdateEnd, EvalEnd} <= kinds
    assert [e.step for e in ev.history] == [100, 200, 300]
    with open(tmp_path / "scalars.csv") as fh:
        keys = {row["key"] for row in csv.DictReader(fh)}
    assert {"charts/episode_return", "losses/pg", "losses/vf", "eval/mean_return"} <= keys
    steps, values = log.series("charts/episode_return")
    assert len(steps) == len(values) > 0


def test_eval_callback_stops_at_threshold():
    ev = EvalCallback(IdentityEnv(n=2), every=50, episodes=2, stop_at=-1.0)  # any return passes
    agent = CEM(seed=0, population=4).learn(IdentityEnv(n=2), 10_000, callbacks=[ev])
    assert len(ev.history) == 1 and agent.steps_ < 200


def test_early_stop_on_training_returns():
    agent = DQN(seed=0, hidden=(8,), learning_starts=10).learn(IdentityEnv(), 5_000, callbacks=[EarlyStop(-1, window=2)])
    assert agent.steps_ == 20  # two 10-step episodes


def test_checkpoints_and_evaluate_checkpoint(tmp_path):
    ck = CheckpointCallback(tmp_path, every=100)
    DQN(seed=0, hidden=(8,), learning_starts=10).learn("CartPole-v1", 250, callbacks=[ck])
    assert [p.name for p in ck.saved] == ["agent_100.npz", "agent_200.npz", "agent_final.npz"]
    res = evaluate_checkpoint(ck.saved[-1], "CartPole-v1", episodes=3, seed=1)
    assert res["agent"] == "dqn" and res["episodes"] == 3 and len(res["returns"]) == 3
    assert res["min_return"] <= res["mean_return"] <= res["max_return"]


def test_evaluate_is_seeded_and_one_episode_per_copy():
    agent = DQN(seed=0, hidden=(8,), learning_starts=10).learn(IdentityEnv(), 20)
    a = evaluate_policy(agent, IdentityEnv(), episodes=4, seed=5)
    b = evaluate_policy(agent, IdentityEnv(), episodes=4, seed=5)
    assert a == b and a.lengths == (10, 10, 10, 10)


def test_tensorboard_event_file_holds_the_scalars(tmp_path):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    log = ScalarLogger(tmp_path / "run.csv", tensorboard=True)
    ev = EvalCallback(IdentityEnv(), every=100, episodes=2)
    A2C(seed=0, hidden=(8,), n_envs=2, n_steps=5).learn(IdentityEnv(), 200, callbacks=[log, ev])
    events = list((tmp_path / "run").glob("events.out.tfevents.*"))
    assert len(events) == 1
    acc = event_accumulator.EventAccumulator(str(events[0]))
    acc.Reload()
    assert {"charts/episode_return", "losses/pg", "eval/mean_return"} <= set(acc.Tags()["scalars"])
    steps, values = log.series("eval/mean_return")
    tb = acc.Scalars("eval/mean_return")
    assert [e.step for e in tb] == list(steps) == [100, 200]
    assert np.allclose([e.value for e in tb], values)


def test_tensorboard_without_its_package_says_what_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # makes the import fail
    with pytest.raises(ImportError, match="pip install tensorboard"):
        ScalarLogger(tensorboard=True)
