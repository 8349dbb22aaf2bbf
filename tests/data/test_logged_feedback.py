"""The logged-feedback schema: construction, validation, Parquet round trips, collect_logs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recloop.data.collect import collect_logs
from recloop.data.logs import LoggedFeedback, read_parquet


def _bandit_logs(n: int = 6) -> LoggedFeedback:
    rng = np.random.default_rng(0)
    return LoggedFeedback.from_arrays(
        action=rng.integers(0, 3, n), reward=rng.random(n), propensity=np.full(n, 1 / 3), n_actions=3,
        context=rng.normal(size=(n, 2)), event_id=[f"e{i}" for i in range(n)], timestamp=np.arange(n) + 1.7e9,
        position=rng.integers(0, 2, n), policy_version="ucb1@3", expected_rewards=rng.random((n, 3)),
    )


def _assert_same(a: LoggedFeedback, b: LoggedFeedback) -> None:
    for name in a.__dataclass_fields__:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, np.ndarray):
            assert y is not None and x.shape == y.shape, name
            if x.dtype.kind in "fc":
                np.testing.assert_allclose(x, y, err_msg=name)
            else:
                assert (x.astype(str) == y.astype(str)).all(), name
        else:
            assert x == y, name


def test_bandit_logs_round_trip_parquet(tmp_path):
    logs = _bandit_logs()
    back = read_parquet(logs.to_parquet(tmp_path / "logs.parquet"))
    _assert_same(logs, back)
    assert back.policy_version[0] == "ucb1@3" and not back.is_slate


def test_variable_candidate_sets_round_trip(tmp_path):
    cands = np.array([["a", "b", "c"], ["b", "d", ""], ["e", "", ""]], dtype=object)
    mask = cands != ""
    logs = LoggedFeedback.from_arrays(action=[2, 1, 0], reward=[1.0, 0.0, 1.0], propensity=[0.2, 0.5, 1.0],
                                      candidates=cands, candidate_mask=mask)
    assert logs.n_actions == 3 and list(logs.chosen_items()) == ["c", "d", "e"]
    back = LoggedFeedback.from_parquet(logs.to_parquet(tmp_path / "c.parquet"))
    assert list(back.chosen_items()) == ["c", "d", "e"]
    np.testing.assert_array_equal(back.candidate_mask, mask)


def test_slate_logs_round_trip(tmp_path):
    logs = LoggedFeedback.from_arrays(action=[[0, 1], [1, 1]], reward=[1.0, 2.0], propensity=[0.25, 0.25],
                                      n_actions=2, position_propensity=[[0.5, 0.5], [0.5, 0.5]],
                                      position_reward=[[1.0, 0.0], [1.0, 1.0]],
                                      expected_rewards=np.full((2, 2, 2), 0.5))
    assert logs.is_slate and logs.slate_size == 2
    back = read_parquet(logs.to_parquet(tmp_path / "s.parquet"))
    _assert_same(logs, back)


def test_reads_server_style_file_with_ragged_candidates(tmp_path):
    # what a server might write: no recloop metadata, candidate lists of different lengths, item ids
    table = pa.table({"event_id": ["x", "y"], "action": [1, 0], "propensity": [0.5, 1.0], "reward": [0.0, 1.0],
                      "candidates": [[10, 11], [12]], "policy_version": ["v1", "v1"]})
    pq.write_table(table, tmp_path / "server.parquet")
    logs = read_parquet(tmp_path / "server.parquet")
    assert logs.n_actions == 2 and list(logs.chosen_items()) == [11, 12]
    assert logs.candidate_mask.tolist() == [[True, True], [True, False]]


@pytest.mark.parametrize("change, message", [
    ({"propensity": [0.5, 0.0, 0.5]}, "propensity must lie in"),
    ({"propensity": [0.5, np.nan, 0.5]}, "missing"),
    ({"propensity": [0.5, 1.5, 0.5]}, "propensity must lie in"),
    ({"propensity": [0.5, 0.5]}, "propensity has shape"),
    ({"action": [0, 3, 1]}, "unknown action"),
    ({"reward": [1.0, np.inf, 0.0]}, "reward contains"),
    ({"context": np.zeros((2, 1))}, "context has shape"),
])
def test_validation_names_the_problem(change, message):
    kwargs = {"action": [0, 1, 1], "reward": [1.0, 0.0, 1.0], "propensity": [0.5, 0.5, 0.5], "n_actions": 3}
    kwargs.update(change)
    with pytest.raises(ValueError, match=message):
        LoggedFeedback.from_arrays(**kwargs)


def test_empty_logs_are_rejected():
    with pytest.raises(ValueError, match="empty"):
        LoggedFeedback.from_arrays(action=np.zeros(0, int), reward=[], propensity=[], n_actions=2)


def test_action_outside_its_candidate_set_is_rejected():
    with pytest.raises(ValueError, match="not among its candidates"):
        LoggedFeedback.from_arrays(action=[1], reward=[1.0], propensity=[0.5], candidates=[[5, 0]],
                                   candidate_mask=[[True, False]])


def test_slate_shapes_are_checked():
    with pytest.raises(ValueError, match="position_propensity has shape"):
        LoggedFeedback.from_arrays(action=[[0, 1]], reward=[1.0], propensity=[0.25], n_actions=2,
                                   position_propensity=[[0.5, 0.5, 0.5]])


def test_missing_file_and_wrong_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_parquet(tmp_path / "nope.parquet")
    pq.write_table(pa.table({"x": [1]}), tmp_path / "other.parquet")
    with pytest.raises(ValueError, match="missing column"):
        read_parquet(tmp_path / "other.parquet")


def test_take_selects_events():
    logs = _bandit_logs()
    part = logs.take(logs.action == logs.action[0])
    assert part.n == int((logs.action == logs.action[0]).sum()) and part.n_actions == 3


class _TwoContextBandit(gym.Env):
    """Context 0 or 1 each step; action a in context x pays Bernoulli(TRUTH[x, a])."""

    TRUTH = np.array([[0.1, 0.9], [0.7, 0.3]])
    observation_space = gym.spaces.Box(0.0, 1.0, (1,))
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._x = int(self.np_random.integers(2))
        return np.array([self._x], np.float32), {}

    def expected_rewards(self, context):
        return self.TRUTH[int(np.asarray(context)[0])]

    def step(self, action):
        r = float(self.np_random.random() < self.TRUTH[self._x, action])
        self._x = int(self.np_random.integers(2))
        return np.array([self._x], np.float32), r, False, False, {}


class _ContextPolicy:
    def probabilities(self, obs):
        return np.array([0.8, 0.2]) if obs[0] == 0 else np.array([0.3, 0.7])


def test_collect_logs_records_propensities_and_truth():
    logs = collect_logs(_TwoContextBandit(), _ContextPolicy(), 4000, seed=1)
    x = logs.context[:, 0].astype(int)
    expected_p = np.where(x == 0, np.where(logs.action == 0, 0.8, 0.2), np.where(logs.action == 0, 0.3, 0.7))
    np.testing.assert_allclose(logs.propensity, expected_p)
    np.testing.assert_allclose(logs.expected_rewards, _TwoContextBandit.TRUTH[x])
    # the logged rewards agree with the recorded truth
    mean = logs.expected_rewards[np.arange(logs.n), logs.action]
    assert abs(logs.reward.mean() - mean.mean()) < 4 * np.sqrt(0.25 / logs.n)
    again = collect_logs(_TwoContextBandit(), _ContextPolicy(), 4000, seed=1)
    np.testing.assert_array_equal(again.action, logs.action)


def test_collect_logs_rejects_policy_without_probabilities():
    with pytest.raises(TypeError, match="probabilities"):
        collect_logs(_TwoContextBandit(), object(), 10)
