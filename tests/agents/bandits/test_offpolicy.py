"""OffPolicySoftmax: exact gradients of its objectives, and learning from another policy's logs."""

from __future__ import annotations

import numpy as np
import pytest

from recloop.agents.bandits import OffPolicySoftmax
from recloop.data.logs import LoggedFeedback


def _world(n, seed, logging="skewed"):
    """Three items, rewards Bernoulli(sigmoid(x . theta_a)); logging prefers the worst item."""
    rng = np.random.default_rng(seed)
    theta = np.array([[2.0, 0.0], [0.0, 2.0], [-1.0, -1.0]])
    X = rng.normal(size=(n, 2))
    q = 1 / (1 + np.exp(-X @ theta.T))
    mu = np.tile([0.2, 0.2, 0.6], (n, 1)) if logging == "skewed" else np.full((n, 3), 1 / 3)
    a = (rng.random(n)[:, None] > np.cumsum(mu, axis=1)).sum(axis=1)
    r = (rng.random(n) < q[np.arange(n), a]).astype(float)
    logs = LoggedFeedback.from_arrays(action=a, reward=r, propensity=mu[np.arange(n), a], context=X,
                                      item_ids=["sku-a", "sku-b", "sku-c"], expected_rewards=q)
    return logs, q


@pytest.mark.parametrize("objective", ["dr", "ips", "snips"])
def test_gradient_matches_finite_differences(objective, monkeypatch):
    from scipy import optimize

    logs, _ = _world(300, 0)
    pol = OffPolicySoftmax(n_features=2, objective=objective, l2=0.01, max_iter=1, seed=0)
    captured = {}

    def fake_minimize(fun, x0, jac, method, options):
        captured["fun"] = fun
        return optimize.OptimizeResult(x=x0, fun=fun(x0)[0], nit=0, success=True)

    monkeypatch.setattr(optimize, "minimize", fake_minimize)
    pol.fit(logs)
    rng = np.random.default_rng(1)
    x0 = rng.normal(scale=0.5, size=9)
    f, g = captured["fun"](x0)
    num = np.array([(captured["fun"](x0 + e)[0] - captured["fun"](x0 - e)[0]) / 2e-6 for e in np.eye(9) * 1e-6])
    np.testing.assert_allclose(g, num, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("objective", ["dr", "ips"])
def test_learns_a_policy_far_better_than_the_logging_one(objective):
    logs, _ = _world(6000, 1)
    pol = OffPolicySoftmax(n_features=2, objective=objective, seed=0).fit(logs)
    test, q = _world(4000, 2)
    P = np.stack([pol.item_probabilities(x, ["sku-a", "sku-b", "sku-c"]) for x in test.context])
    value = float((P * q).sum(axis=1).mean())
    logging = float((np.array([0.2, 0.2, 0.6]) * q).sum(axis=1).mean())
    oracle = float(q.max(axis=1).mean())
    assert value > logging + 0.6 * (oracle - logging), (value, logging, oracle)
    assert pol.fit_result_["objective"] == objective


def test_bad_input():
    with pytest.raises(ValueError, match="objective must be one of"):
        OffPolicySoftmax(n_features=2, objective="mse")
    logs, _ = _world(50, 0)
    with pytest.raises(ValueError, match="the logs have 2 context features"):
        OffPolicySoftmax(n_features=3).fit(logs)
