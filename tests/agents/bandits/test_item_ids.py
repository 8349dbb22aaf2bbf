"""Item ids are first class in every bandit policy: fit/update by id, saved map, order-free scores,
bulk adds, a bounded catalogue."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recloop.agents.bandits import LinUCB, ThompsonSampling
from recloop.agents.bandits.base import BanditPolicy
from recloop.core.registry import lookup, names
from recloop.core.types import Feedback
from recloop.data.features import Featuriser
from recloop.data.logs import LoggedFeedback

ITEMS = ["sku-%d" % i for i in range(6)]
#: Beta-posterior Thompson policies estimate their probabilities by Monte Carlo: equal in law, not bitwise
MONTE_CARLO = {"ThompsonSampling", "DiscountedThompsonSampling"}


def _bandit_classes() -> list[type]:
    seen = {}
    for name in names("policy"):
        cls = lookup("policy", name)
        if isinstance(cls, type) and issubclass(cls, BanditPolicy):
            seen.setdefault(cls, name)
    return sorted(seen, key=lambda c: c.__name__)


def _trained(cls: type, seed: int = 0) -> BanditPolicy:
    """A policy that has learned something about every item, by id."""
    if hasattr(cls, "conformance_case"):
        p, _ = cls.conformance_case(seed)
        p = type(p)(**{**p.get_params(), "n_arms": None}) if cls.__name__ != "HybridLinUCB" else p
    else:
        p = cls(n_features=3, seed=seed) if cls.contextual else cls(seed=seed)
    rng = np.random.default_rng(seed)
    x = np.array([1.0, 0.5, -0.2])
    ctx = x if p.contextual else None
    if cls.__name__ == "HybridLinUCB":
        p.set_item_features(ITEMS, rng.normal(size=(len(ITEMS), p.n_item_features)))
    p.recommend(ctx, ITEMS)
    for t in range(60):
        item = ITEMS[t % len(ITEMS)]
        p.update(Feedback(item_id=item, reward=float(rng.random() < 0.1 + 0.15 * (t % len(ITEMS))), context=ctx))
    return p


CLASSES = _bandit_classes()


def test_every_bandit_is_covered():
    assert len(CLASSES) >= 14


@pytest.mark.parametrize("cls", CLASSES, ids=[c.__name__ for c in CLASSES])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_scores_do_not_depend_on_candidate_order_or_subset(cls, data):
    p = _trained(cls)
    ctx = np.array([1.0, 0.5, -0.2]) if p.contextual else None
    subset = data.draw(st.lists(st.sampled_from(ITEMS), min_size=1, max_size=6, unique=True))
    perm = data.draw(st.permutations(subset))
    s1 = dict(zip(subset, p.item_scores(ctx, subset)))
    s2 = dict(zip(perm, p.item_scores(ctx, perm)))
    assert s1 == pytest.approx(s2, rel=1e-12, abs=1e-12)
    p1 = dict(zip(subset, p.item_probabilities(ctx, subset)))
    p2 = dict(zip(perm, p.item_probabilities(ctx, perm)))
    tol = 0.05 if cls.__name__ in MONTE_CARLO else 1e-9
    assert p1 == pytest.approx(p2, abs=tol)
    assert sum(p2.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("cls", CLASSES, ids=[c.__name__ for c in CLASSES])
def test_saved_model_keeps_its_item_map_and_ranks_the_same(cls, tmp_path):
    p = _trained(cls)
    ctx = np.array([1.0, 0.5, -0.2]) if p.contextual else None
    q = BanditPolicy.load(p.save(tmp_path / "m.npz"))
    assert q.known_items == p.known_items
    rev = ITEMS[::-1]
    assert dict(zip(rev, q.item_scores(ctx, rev))) == pytest.approx(dict(zip(ITEMS, p.item_scores(ctx, ITEMS))))


def _logs(n=400, seed=0):
    rng = np.random.default_rng(seed)
    ids = np.array(["b-shoe", "a-hat", "c-bag"])
    X = rng.normal(size=(n, 2))
    a = rng.integers(3, size=n)
    theta = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    r = (rng.random(n) < 1 / (1 + np.exp(-3 * np.einsum("nd,nd->n", X, theta[a])))).astype(float)
    return LoggedFeedback.from_arrays(action=a, reward=r, propensity=np.full(n, 1 / 3), context=X,
                                      item_ids=ids, timestamp=np.arange(n, dtype=float)), X, theta, ids


def test_fit_learns_by_item_id_and_update_batch_takes_string_ids():
    logs, X, theta, ids = _logs()
    p = LinUCB(n_features=2, alpha=0.0, seed=0).fit(logs)
    assert sorted(p.known_items) == sorted(ids.tolist())
    q = LinUCB(n_features=2, alpha=0.0, seed=0)
    q.update_batch(logs.chosen_items(), logs.reward, logs.context)
    x = np.array([0.0, 2.0])  # "a-hat" (theta = [0, 1]) is best here
    for pol in (p, q):
        s = dict(zip(["c-bag", "a-hat", "b-shoe"], pol.item_scores(x, ["c-bag", "a-hat", "b-shoe"])))
        assert max(s, key=s.get) == "a-hat"
    assert p.per_item_state().keys() == q.per_item_state().keys()
    for item in ids:
        np.testing.assert_allclose(p.per_item_state()[item]["theta_"], q.per_item_state()[item]["theta_"])


def test_fit_keeps_the_featuriser_so_dict_contexts_serve_as_fitted(tmp_path):
    f = Featuriser(n_features=64, interactions=False, seed=0)
    raw = [{"user": {"country": c}} for c in ("de", "fr") * 100]
    X = f.contexts(raw)
    rewards = np.array([1.0 if (i % 2 == 0) == (j == 0) else 0.0 for i, j in zip(range(200), [0, 1] * 100)])
    logs = LoggedFeedback.from_arrays(action=np.array([0, 1] * 100), reward=rewards, propensity=np.full(200, 0.5),
                                      context=X, item_ids=["x", "y"], featuriser=f.to_dict())
    p = LinUCB(n_features=64, alpha=0.0).fit(logs)
    q = BanditPolicy.load(p.save(tmp_path / "m.npz"))
    assert q.featuriser == f
    np.testing.assert_allclose(q.item_scores({"user": {"country": "de"}}, ["x", "y"]),
                               p.item_scores(X[0], ["x", "y"]))


def test_new_items_are_added_in_one_bulk_step(monkeypatch):
    p = LinUCB(n_features=2)
    calls = []
    original = p._new_arms
    monkeypatch.setattr(p, "_new_arms", lambda n: calls.append(n) or original(n))
    p.recommend(np.ones(2), [f"i{k}" for k in range(500)])
    assert calls == [500] and p.arms_ == 500
    p.recommend(np.ones(2), [f"i{k}" for k in range(490, 520)])
    assert calls == [500, 20]


def test_bounded_catalogue_evicts_the_items_unseen_longest(tmp_path):
    p = ThompsonSampling(seed=0).set_max_items(4)
    p.recommend(None, ["a", "b"])
    p.recommend(None, ["c", "d"])
    for _ in range(5):
        p.update(Feedback(item_id="c", reward=1.0))
    p.recommend(None, ["a", "b"])  # c and d are now the oldest... but c was rewarded after d was shown
    p.recommend(None, ["a", "e"])  # one new item: d goes (unseen longest), its arm is reused
    assert sorted(p.known_items) == ["a", "b", "c", "e"] and p.arms_ == 4
    arm_e = p.item_arms(["e"])[0]
    assert p.a_[arm_e] == 1.0 and p.b_[arm_e] == 1.0  # the evicted item's state does not leak
    assert p.per_item_state()["c"]["a_"] == 6.0
    with pytest.raises(ValueError, match="exceed max_items=4"):
        p.recommend(None, ["v", "w", "x", "y", "z"])
    q = BanditPolicy.load(p.save(tmp_path / "m.npz"))
    assert q.max_items == 4 and q.known_items == p.known_items


def test_unknown_item_feedback_is_a_key_error():
    p = LinUCB(n_features=1)
    p.recommend(np.ones(1), ["a"])
    with pytest.raises(KeyError, match="unknown item id 'zz'"):
        p.update(Feedback(item_id="zz", reward=1.0, context=np.ones(1)))
