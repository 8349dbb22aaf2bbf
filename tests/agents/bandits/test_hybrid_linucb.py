import numpy as np
import pytest

from recloop.agents.bandits import HybridLinUCB, LinUCB


def test_estimates_equal_joint_ridge_regression():
    """Algorithm 2's bookkeeping is exact: its estimate is the ridge solution on the
    joint design [z_a, one_hot(a) (x) x] with an identity prior."""
    rng = np.random.default_rng(0)
    d, m, K, n = 3, 2, 4, 80
    F = rng.normal(size=(K, m))
    p = HybridLinUCB(K, n_features=d, item_features=F, alpha=0.0, seed=0)
    rows, ys = [], []
    for _ in range(n):
        x, a, r = rng.normal(size=d), int(rng.integers(K)), float(rng.normal())
        p.update(a, r, x)
        own = np.zeros(K * d)
        own[a * d:(a + 1) * d] = x
        rows.append(np.r_[np.outer(x, F[a]).ravel(), own])
        ys.append(r)
    Phi, y = np.array(rows), np.array(ys)
    w = np.linalg.solve(np.eye(Phi.shape[1]) + Phi.T @ Phi, Phi.T @ y)
    x = rng.normal(size=d)
    expected = [np.r_[np.outer(x, F[a]).ravel(), np.eye(K)[a].repeat(d) * np.tile(x, K)] @ w for a in range(K)]
    np.testing.assert_allclose(p._greedy_scores(x, np.arange(K)), expected, atol=1e-8)


def bilinear_world(seed=0, d=5, m=4, K=60, T=3000):
    rng = np.random.default_rng(seed)
    W = 0.25 * rng.normal(size=(d, m)) / np.sqrt(d * m)  # click rates mostly inside (0, 1): a linear truth
    F = rng.normal(size=(K, m))
    X = rng.normal(size=(T, d))
    P = np.clip(0.5 + X @ W @ F.T, 0, 1)
    return F, X, P, (rng.random(P.shape) < P).astype(float)


def test_shared_model_learns_a_large_catalogue_faster_than_disjoint_models():
    F, X, P, R = bilinear_world()
    shares = {}
    for name, p in [("hybrid", HybridLinUCB(60, n_features=5, item_features=F, alpha=0.5, seed=0)),
                    ("disjoint", LinUCB(60, n_features=5, alpha=0.5, seed=0))]:
        got = 0.0
        for t in range(len(X)):
            a = p.act(X[t])
            p.update(a, R[t, a], X[t])
            got += P[t, a]
        shares[name] = got / P.max(axis=1).sum()
    assert shares["hybrid"] > shares["disjoint"] + 0.02, shares


def test_cold_start_item_is_scored_from_its_features():
    F, X, P, R = bilinear_world(K=10, T=1500)
    # a constant feature on both sides lets z = vec(x f^T) carry the intercept
    F, X = np.c_[F, np.ones(len(F))], np.c_[X, np.ones(len(X))]
    p = HybridLinUCB(n_features=6, n_item_features=5, alpha=0.0, seed=0)
    ids = [f"item{i}" for i in range(9)]
    p.set_item_features(ids, F[:9])
    rng = np.random.default_rng(1)
    for t in range(len(X)):  # uniform logging: every known item is seen in many contexts
        a = int(rng.integers(9))
        p.update(a, R[t, a], X[t])
    # item 9 was never shown: only its features say anything about it
    rec = p.recommend(X[0], ["item9"], k=1, item_features=F[9:10])
    assert rec.items == ("item9",)
    def error(item, j):
        arm = p.item_arms([item])
        return np.mean([abs(p._greedy_scores(x, arm)[0] - truth) for x, truth in zip(X[:200], P[:200, j])])

    # as well estimated as an item seen ~170 times, and far better than knowing nothing
    assert error("item9", 9) < 1.5 * error("item3", 3)
    assert error("item9", 9) < 0.5 * np.std(P[:200, 9])


def test_bad_item_features():
    with pytest.raises(ValueError, match="item_features or n_item_features"):
        HybridLinUCB(3, n_features=2)
    p = HybridLinUCB(3, n_features=2, n_item_features=2)
    with pytest.raises(ValueError, match="shape"):
        p.set_item_features(["a"], np.zeros((1, 3)))
    with pytest.raises(ValueError, match="NaN"):
        p.set_item_features(["a"], np.full((1, 2), np.nan))
