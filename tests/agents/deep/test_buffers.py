import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from recloop.agents.deep.replay import ReplayBuffer, SumTree
from recloop.agents.deep.rollout import RolloutBuffer, gae


def test_gae_matches_hand_computation():
    r = np.array([[1.0], [1.0], [1.0]], np.float32)
    v = np.array([[0.5], [0.4], [0.3]], np.float32)
    d = np.array([[0.0], [1.0], [0.0]], np.float32)  # episode ends after step 1
    g, lam = 0.9, 0.5
    adv, ret = gae(r, v, np.array([0.2], np.float32), d, g, lam)
    d2 = 1 + g * 0.2 - 0.3
    d1 = 1 - 0.4                      # terminal: no bootstrap
    d0 = 1 + g * 0.4 - 0.5
    a1 = d1
    a0 = d0 + g * lam * a1
    assert adv[:, 0] == pytest.approx([a0, a1, d2])
    assert ret[:, 0] == pytest.approx([a0 + 0.5, a1 + 0.4, d2 + 0.3])


def test_gae_lambda_one_is_discounted_return_minus_value():
    r = np.ones((4, 1), np.float32)
    v = np.zeros((4, 1), np.float32)
    adv, _ = gae(r, v, np.zeros(1, np.float32), np.zeros((4, 1), np.float32), 0.5, 1.0)
    assert adv[:, 0] == pytest.approx([1.875, 1.75, 1.5, 1.0])


def test_rollout_buffer_flattens():
    buf = RolloutBuffer(2, 3, (4,), np.float32)
    for _ in range(2):
        buf.add(np.ones((3, 4)), np.zeros(3), np.zeros(3), np.ones(3), np.zeros(3), np.zeros(3))
    assert buf.full
    out = buf.finish(np.zeros(3, np.float32), 0.9, 0.95)
    assert out["obs"].shape == (6, 4) and out["advantages"].shape == (6,)
    assert not buf.full


def test_ring_buffer_overwrites_oldest():
    buf = ReplayBuffer(3, (1,), np.float32)
    for t in range(5):
        buf.add(np.array([[t]]), np.array([0]), np.array([t]), np.array([[t]]), np.array([False]), np.array([False]))
    assert len(buf) == 3
    assert sorted(buf.obs[:, 0, 0].tolist()) == [2, 3, 4]


def test_empty_buffer_refuses_to_sample():
    with pytest.raises(RuntimeError, match="empty"):
        ReplayBuffer(4, (1,), np.float32).sample(2)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0.01, 10.0), min_size=1, max_size=40))
def test_sum_tree_total_and_leaves(priorities):
    tree = SumTree(len(priorities))
    tree.update(np.arange(len(priorities)), np.array(priorities))
    assert tree.total == pytest.approx(sum(priorities))
    assert tree.get(np.arange(len(priorities))) == pytest.approx(priorities)


def test_prioritized_sampling_follows_priorities():
    buf = ReplayBuffer(4, (1,), np.float32, prioritized=True, alpha=1.0, seed=0)
    for t in range(4):
        buf.add(np.array([[t]]), np.array([0]), np.array([0.0]), np.array([[t]]), np.array([False]), np.array([False]))
    buf.update_priorities(np.arange(4), np.array([1.0, 1.0, 1.0, 7.0]), eps=0.0)
    counts = np.bincount(np.concatenate([buf.sample(100).indices for _ in range(100)]), minlength=4)
    assert counts[3] / counts.sum() == pytest.approx(0.7, abs=0.03)
    b = buf.sample(64)
    assert b.weights.max() == pytest.approx(1.0)
    assert (b.weights[b.indices == 3] < b.weights[b.indices != 3].min()).all()
