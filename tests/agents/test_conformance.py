"""The conformance kit: one set of checks that every registered policy passes.

Policies are discovered from the registry, so a new class is checked the moment
it is registered. A class may define ``conformance_case(seed) -> (policy,
draw_obs)`` to say how to build a small instance and draw a valid observation;
bandits get a default case.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from recloop.agents.bandits.base import BanditPolicy
from recloop.core.registry import lookup, names
from recloop.core.types import Feedback, Recommendation


def _classes() -> list[type]:
    seen: dict[type, str] = {}
    for name in names("policy"):
        seen.setdefault(lookup("policy", name), name)
    return sorted(seen, key=lambda c: c.__name__)


def _case(cls: type, seed: int):
    if hasattr(cls, "conformance_case"):
        return cls.conformance_case(seed)
    if getattr(cls, "contextual", False):
        return cls(n_arms=4, n_features=3, seed=seed), lambda rng: rng.normal(size=3)
    return cls(n_arms=4, seed=seed), lambda rng: None


def _warm(policy, draw, rng, n=40):
    """Feed Bernoulli rewards so every policy has a non-trivial state."""
    n_actions = len(policy.probabilities(draw(np.random.default_rng(0))))
    for _ in range(n):
        obs = draw(rng)
        a = policy.act(obs)
        assert 0 <= a < n_actions
        policy.update(a, float(rng.random() < 0.2 + 0.6 * (a == 1)), obs)


CLASSES = _classes()
IDS = [c.__name__ for c in CLASSES]


def test_kit_found_the_policies():
    assert len(CLASSES) >= 12


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_same_seed_same_decisions(cls):
    runs = []
    for _ in range(2):
        policy, draw = _case(cls, seed=3)
        rng = np.random.default_rng(0)
        _warm(policy, draw, rng)
        runs.append([policy.act(draw(rng)) for _ in range(20)])
    assert runs[0] == runs[1]


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_probabilities_are_a_distribution_matching_choices(cls):
    policy, draw = _case(cls, seed=1)
    rng = np.random.default_rng(1)
    _warm(policy, draw, rng)
    obs = draw(rng)
    p = policy.probabilities(obs)
    assert p.ndim == 1 and np.all(p >= 0) and p.sum() == pytest.approx(1.0)
    n = 3000
    freq = np.bincount([policy.act(obs) for _ in range(n)], minlength=len(p)) / n
    # sampling error of the frequencies, plus the Monte Carlo error of estimated propensities
    tol = 4 * np.sqrt(p * (1 - p) / n) + 0.03
    assert np.all(np.abs(freq - p) <= tol), (p, freq)


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_save_load_and_pickle_round_trip(cls, tmp_path):
    policy, draw = _case(cls, seed=5)
    rng = np.random.default_rng(5)
    _warm(policy, draw, rng)
    path = policy.save(tmp_path / "model")
    for twin in (type(policy).load(path), pickle.loads(pickle.dumps(policy))):
        assert type(twin) is type(policy)
        assert twin.get_params() == policy.get_params()
        obs_rng_a, obs_rng_b = np.random.default_rng(9), np.random.default_rng(9)
        for _ in range(10):  # same state and same random stream -> same future
            oa, ob = draw(obs_rng_a), draw(obs_rng_b)
            a, b = policy.act(oa), twin.act(ob)
            assert a == b
        policy, draw = _case(cls, seed=5)
        _warm(policy, draw, np.random.default_rng(5))


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_recommend_serves_item_ids_with_propensities(cls):
    policy, draw = _case(cls, seed=2)
    rng = np.random.default_rng(2)
    # bandits serve any hashable item ids; a tabular agent's items are its action indices
    n_actions = len(policy.probabilities(draw(np.random.default_rng(0))))
    ids = ["kale", "cake", "soup", "tea"] if isinstance(policy, BanditPolicy) else list(range(min(4, n_actions)))
    counts = dict.fromkeys(ids, 0)
    for _ in range(30):
        ctx = draw(rng)
        rec = policy.recommend(ctx, ids, k=3)
        assert isinstance(rec, Recommendation)
        assert len(rec.items) == 3 and len(set(rec.items)) == 3 and set(rec.items) <= set(ids)
        assert 0 < rec.propensity <= 1 and np.all((rec.propensities >= 0) & (rec.propensities <= 1))
        counts[rec.chosen] += 1
        policy.update(Feedback(item_id=rec.chosen, reward=float(rec.chosen == ids[2]), context=ctx))
    with pytest.raises((KeyError, ValueError)):
        policy.update(Feedback(item_id="never-shown", reward=1.0, context=draw(rng)))


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_bad_input_is_refused_clearly(cls):
    policy, draw = _case(cls, seed=0)
    rng = np.random.default_rng(0)
    obs = draw(rng)
    n_actions = len(policy.probabilities(obs))
    with pytest.raises(ValueError, match="finite"):
        policy.update(0, float("nan"), obs)
    with pytest.raises(IndexError, match="out of range"):
        policy.update(n_actions + 3, 1.0, obs)
    with pytest.raises(ValueError, match="k="):
        policy.recommend(obs, ["a", "b"], k=3)
    with pytest.raises(ValueError, match="empty"):
        policy.recommend(obs, [], k=1)
    with pytest.raises(ValueError, match="unique"):
        policy.recommend(obs, ["a", "a"], k=1)
    if getattr(policy, "contextual", False):
        with pytest.raises(ValueError, match="shape"):
            policy.act(np.zeros(obs.shape[0] + 1))
        with pytest.raises(ValueError, match="NaN"):
            policy.act(np.full(obs.shape, np.nan))
