"""The Personalizer loop's parts: settings, learning settings, the model, and exactly-once learning."""

from __future__ import annotations


import numpy as np
import pytest

from recloop.serve.personalizer.model import (DEFAULTS, LinearCB, draw, epsilon_greedy, format_arguments,
                                              parse_arguments)
from recloop.serve.personalizer.schemas import (ServiceSettings, format_duration, merge_features, parse_duration)


@pytest.mark.parametrize("text,seconds", [("PT10M", 600), ("PT5S", 5), ("P1DT2H", 93600), ("PT0.5S", 0.5),
                                          ("00:10:00", 600), ("1.02:00:00", 93600)])
def test_durations(text, seconds):
    assert parse_duration(text, "x") == seconds
    assert parse_duration(format_duration(seconds), "x") == seconds


@pytest.mark.parametrize("bad", ["10 minutes", "P", "PT", 600, None, "1:2"])
def test_bad_durations_are_named(bad):
    with pytest.raises(ValueError, match="rewardWaitTime"):
        parse_duration(bad, "rewardWaitTime")


def test_service_settings_update_checks_every_field_and_keeps_the_rest():
    s = ServiceSettings()
    new = s.updated({"rewardWaitTime": "PT1M", "learningMode": "apprentice", "rewardAggregation": "Sum",
                     "latestApprenticeModeMetrics": None})
    assert (new.reward_wait_s, new.learning_mode, new.reward_aggregation) == (60, "Apprentice", "sum")
    assert new.exploration_percentage == s.exploration_percentage and s.reward_wait_s == 600
    assert ServiceSettings.from_dict(new.as_dict()) == new
    for body, name in [({"defaultReward": 3}, "defaultReward"), ({"logRetentionDays": 0}, "logRetentionDays"),
                       ({"explorationPercentage": True}, "explorationPercentage"), ({"foo": 1}, "foo"),
                       ({"rewardWaitTime": "P3D"}, "rewardWaitTime")]:
        with pytest.raises(ValueError, match=name):
            s.updated(body)


def test_merge_features_keeps_repeated_namespaces_apart():
    assert merge_features([{"user": {"a": 1}}, {"user": {"b": 2}, "d": "x"}]) == {
        "user": {"a": 1}, "user#2": {"b": 2}, "d": "x"}


def test_learning_settings_as_text():
    assert parse_arguments("--cb_explore_adf --epsilon 0.2 -l 0.25 -b 10 -q :: --cb_type mtr") == {
        "learning_rate": 0.25, "n_features": 1024, "interactions": True}
    assert parse_arguments("learning_rate=0.1 interactions=false") == {"learning_rate": 0.1, "interactions": False}
    assert parse_arguments(format_arguments({"power_t": 0.3})) == {**DEFAULTS, "power_t": 0.3}
    for bad, match in [("--nonsense", "not understood"), ("alpha=1", "unknown learning setting"),
                       ("learning_rate=abc", "learning_rate"), ("learning_rate=3", "learning_rate"),
                       ("interactions=maybe", "interactions")]:
        with pytest.raises(ValueError, match=match):
            parse_arguments(bad)


def test_epsilon_greedy_and_the_seeded_draw():
    p = epsilon_greedy(np.array([0.1, 0.5, 0.5, 0.2]), 0.2)
    assert p.tolist() == pytest.approx([0.05, 0.45, 0.45, 0.05]) and p.sum() == pytest.approx(1)
    assert draw(p, "event-1") == draw(p, "event-1")
    counts = np.bincount([draw(p, f"e{i}") for i in range(20_000)], minlength=4) / 20_000
    assert np.abs(counts - p).max() < 0.015  # the draw follows the logged propensities


def test_model_learns_an_interaction_saves_and_keeps_weights_for_the_same_features(tmp_path):
    rng = np.random.default_rng(0)
    m = LinearCB(n_features=1024)
    acts = [{"genre": g} for g in ("news", "sport", "music")]
    best = {"gold": 0, "basic": 1}
    for _ in range(400):
        tier = ["gold", "basic"][rng.integers(2)]
        X = m.features({"user": {"tier": tier}}, acts)
        a = int(rng.integers(3))
        m.learn(X, a, float(rng.random() < (0.8 if a == best[tier] else 0.2)))
    for tier, b in best.items():
        assert int(np.argmax(m.scores(m.features({"user": {"tier": tier}}, acts)))) == b
    back = LinearCB.load(m.save(tmp_path / "m.npz"))
    assert np.array_equal(back.w_, m.w_) and back.get_params() == m.get_params() and back.t_ == m.t_
    assert np.array_equal(m.with_params({**m.get_params(), "learning_rate": 0.1}).w_, m.w_)
    assert not m.with_params({**m.get_params(), "n_features": 2048}).w_.any()
    with pytest.raises(ValueError, match="learning_rate"):
        LinearCB(learning_rate=0)


def test_apprentice_imitation_learns_the_baseline_without_rewards_elsewhere():
    m = LinearCB(n_features=1024)
    acts = [{"genre": g} for g in ("news", "sport", "music")]
    rule = {"gold": 2, "basic": 0}
    for i in range(200):
        tier = ["gold", "basic"][i % 2]
        m.learn(m.features({"user": {"tier": tier}}, acts), rule[tier], 0.0, baseline=rule[tier])
    for tier, b in rule.items():
        assert int(np.argmax(m.scores(m.features({"user": {"tier": tier}}, acts)))) == b


# ---------------------------------------------------------------- exactly-once learning, both stores
def test_replay_from_the_log_rebuilds_the_live_model_exactly(db, tmp_path, config):
    """Rank-time cached features and replayed (re-featurised) requests teach the same model:
    with every later snapshot gone, a restart replays the log to bit-identical weights."""
    import httpx

    from recloop.serve.app import create_app
    from recloop.serve.personalizer.loop import sibling
    from recloop.serve.personalizer.store import PersonalizerStore
    from recloop.serve.runner import BackgroundServer

    cfg = config(db, tmp_path)
    url_pz, schema_pz = sibling(cfg)
    rng = np.random.default_rng(1)
    acts = [{"id": f"i{k}", "features": [{"item": {"genre": f"g{k % 3}", "price": k}}]} for k in range(5)]

    def model(url, name):
        path = tmp_path / f"{name}.npz"
        path.write_bytes(httpx.get(f"{url}/personalizer/model").content)
        return LinearCB.load(path)

    try:
        app = create_app(cfg)
        with BackgroundServer(app) as url, httpx.Client(base_url=url) as c:
            for i in range(80):
                body = {"contextFeatures": [{"user": {"seg": f"s{i % 4}", "age": int(rng.integers(18, 70))}}],
                        "actions": acts, "eventId": f"e{i}", "deferActivation": i % 10 == 0}
                assert c.post("/personalizer/rank", json=body).status_code == 201
                if i % 3:
                    assert c.post(f"/personalizer/events/e{i}/reward", json={"value": float(i % 2)}).status_code == 204
            assert c.post("/personalizer/events/e20/activate").status_code == 204  # its held reward joins now
            for _ in range(100):
                if app.state.personalizer.learner.learned == 49:
                    break
                import time
                time.sleep(0.05)
            live = model(url, "live")
            assert app.state.personalizer.learner.learned == live.t_ == 49  # 53 rewarded, 4 of them deferred and never activated
        from sqlalchemy import delete

        from recloop.serve.tables import models
        store = PersonalizerStore(url_pz, schema=schema_pz)
        with store.engine.begin() as conn:  # every snapshot but the initial one: a restart replays the whole log
            conn.execute(delete(models).where(models.c.version > 0))
        store.close()
        app2 = create_app(cfg)
        with BackgroundServer(app2) as url:
            again = model(url, "again")
            assert app2.state.personalizer.learner.replayed == 49  # rewards of unactivated deferred events never joined
        assert np.array_equal(again.w_, live.w_) and np.array_equal(again.n_, live.n_) and again.t_ == live.t_
    finally:
        if schema_pz and db[1]:
            PersonalizerStore(url_pz, schema=schema_pz).drop()
