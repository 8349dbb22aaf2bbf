"""The Personalizer API scaled out on one PostgreSQL store, driven by the official client:
rankers rank, log and take rewards and activations; the one learner learns every joined
reward once, in order, runs the administration operations, and publishes the models and
service settings the rankers serve."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sqlalchemy import select

pytest.importorskip("azure.ai.personalizer")
from azure.ai.personalizer import PersonalizerAdministrationClient, PersonalizerClient  # noqa: E402
from azure.core.credentials import AzureKeyCredential  # noqa: E402
from azure.core.exceptions import HttpResponseError  # noqa: E402

from recloop.serve.app import create_app  # noqa: E402
from recloop.serve.personalizer.loop import model_from_bytes, sibling  # noqa: E402
from recloop.serve.personalizer.model import DEFAULTS, LinearCB  # noqa: E402
from recloop.serve.personalizer.store import PersonalizerStore  # noqa: E402
from recloop.serve.runner import BackgroundServer, wait_until  # noqa: E402
from recloop.serve.tables import rewards  # noqa: E402

KEY = AzureKeyCredential("any-key-for-tests")  # the test services leave the keys open


@pytest.fixture
def cluster(db, tmp_path, config):
    """A learner and two rankers on one PostgreSQL store: ``(learner app, learner url,
    ranker urls, Personalizer store)``."""
    if db[0].startswith("sqlite"):
        pytest.skip("scale-out needs PostgreSQL")
    learner_cfg = config(db, tmp_path, role="learner", lease_s=2.0)
    ranker_cfg = config(db, tmp_path, role="ranker", model_refresh_s=0.2)
    url, schema = sibling(learner_cfg)
    app = create_app(learner_cfg)
    try:
        with BackgroundServer(app) as lurl, BackgroundServer(create_app(ranker_cfg)) as r1, \
                BackgroundServer(create_app(ranker_cfg)) as r2:
            store = PersonalizerStore(url, schema=schema)
            yield app, lurl, [r1, r2], store
            store.close()
    finally:
        PersonalizerStore(url, schema=schema).drop()


def _configure(admin, **settings):
    """Change the service configuration on the learner and wait until the rankers can have
    read it (they look every model_refresh_s = 0.2 s)."""
    admin.update_service_configuration(settings)
    time.sleep(0.6)


def actions(*ids):
    return [{"id": i, "features": [{"item": {"genre": i.split("-")[0]}}]} for i in ids]


def joined(store):
    """Decision id -> (reward, is_default) of every reward the learner has numbered."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(rewards.c.event_id, rewards.c.value, rewards.c.is_default)).all()
    return {r[0]: (r[1], bool(r[2])) for r in rows}


def test_rankers_log_and_the_learner_learns_each_reward_once(cluster):
    app, lurl, rankers, store = cluster
    admin = PersonalizerAdministrationClient(lurl, KEY)
    clients = [PersonalizerClient(u, KEY) for u in rankers]
    _configure(admin, rewardWaitTime="PT3S", defaultReward=-0.5, modelExportFrequency="PT1S")
    expected: dict[str, tuple[float, bool]] = {}  # decision id -> the reward the learner must join
    never: list[str] = []                         # decisions that must never be joined
    lock = threading.Lock()

    def play(n: int) -> None:
        rng = np.random.default_rng(n)
        for i in range(24):
            a, b = clients[(n + i) % 2], clients[(n + i + 1) % 2]  # every reply goes to the other ranker
            eid, kind, value = f"e{n}-{i}", i % 6, float(rng.integers(2))
            ctx = [{"user": {"tier": ["gold", "basic"][int(rng.integers(2))]}}]
            if kind == 5:  # multi-slot: a reward per slot
                a.rank_multi_slot({"eventId": eid, "contextFeatures": ctx, "actions": actions("news-1", "sport-1",
                                                                                             "music-1"),
                                   "slots": [{"id": "hero", "baselineAction": "news-1"},
                                             {"id": "side", "baselineAction": "sport-1"}]})
                b.reward_multi_slot(eid, {"reward": [{"slotId": "hero", "value": value},
                                                     {"slotId": "side", "value": 1 - value}]})
                with lock:
                    expected[f"m:{eid}#hero"], expected[f"m:{eid}#side"] = (value, False), (1 - value, False)
                continue
            a.rank({"eventId": eid, "contextFeatures": ctx, "actions": actions("news-1", "sport-1", "music-1"),
                    "deferActivation": kind in (2, 3, 4)})
            if kind == 0:    # rewarded; a later, different reward at the other ranker is ignored (earliest)
                b.reward(eid, {"value": value})
                a.reward(eid, {"value": 1 - value})
            elif kind == 1:  # never rewarded: the learner joins the default when the window closes
                value = -0.5
            elif kind == 2:  # activated at one ranker, rewarded at the other
                a.activate(eid)
                b.reward(eid, {"value": value})
            elif kind == 3:  # rewarded before activation: held, joined when it comes
                b.reward(eid, {"value": value})
                a.activate(eid)
            else:            # rewarded, never activated: never joined, never learned
                b.reward(eid, {"value": value})
                with lock:
                    never.append(f"s:{eid}")
                continue
            with lock:
                expected[f"s:{eid}"] = (value, kind == 1)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(play, range(4)))
    assert len(expected) == 4 * (4 * 4 + 4 * 2)  # per thread: kinds 0-3 four times each, 4 multi-slot x 2 slots
    wait_until(lambda: len(joined(store)) >= len(expected), timeout=30)
    time.sleep(1.0)  # a sweep after the deferred windows closed: never-activated events stay unjoined
    assert joined(store) == expected and not set(never) & set(joined(store))

    # the learner learned each joined reward once, in seq order: its model is the one a
    # fresh model gets from the log
    pz = app.state.personalizer
    wait_until(lambda: pz.learner.watermark == store.max_reward_seq())
    assert pz.learner.learned == len(expected)
    live = model_from_bytes(b"".join(admin.export_model()))
    reference = LinearCB(**DEFAULTS)
    reference.update_many(j.feedback for j in store.joined_after(0))
    assert np.array_equal(live.w_, reference.w_) and live.t_ == reference.t_ == len(expected)

    # rankers serve what the learner publishes: its snapshots (every modelExportFrequency)
    # and its settings
    wait_until(lambda: store.latest_model()["watermark"] == pz.learner.watermark, timeout=10)
    head = f"v{store.latest_model()['version']}"
    _configure(admin, explorationPercentage=0)
    for n, c in enumerate(clients):
        out = c.rank({"eventId": f"probe-{n}", "actions": actions("news-2", "sport-2", "music-2")})
        assert sorted(r["probability"] for r in out["ranking"]) in ([0, 0, 1], [0, 0.5, 0.5], [1 / 3] * 3)
        assert store.decision(f"s:probe-{n}").model_version == head

    # roles: rank, reward and activate on rankers; administration on the learner
    for call in (lambda: PersonalizerClient(lurl, KEY).rank({"actions": actions("a-1")}),
                 lambda: PersonalizerClient(lurl, KEY).reward("e0-0", {"value": 1.0}),
                 lambda: PersonalizerClient(lurl, KEY).activate("e0-2"),
                 lambda: PersonalizerAdministrationClient(rankers[0], KEY).get_policy(),
                 lambda: PersonalizerAdministrationClient(rankers[1], KEY).update_service_configuration(
                     {"explorationPercentage": 50})):
        with pytest.raises(HttpResponseError) as err:
            call()
        assert err.value.status_code == 421 and err.value.error.code == "MisdirectedRequest"
    assert "ranker" in err.value.error.message and admin.get_service_configuration()["explorationPercentage"] == 0


def test_activation_and_reward_at_two_rankers_at_once_never_miss_each_other(cluster):
    """One event id ranked at two rankers at once is stored once. A reward held at one
    ranker while another activates the event is joined at once, not when the window
    closes (60 s here): the hold and the activation are ordered by the event row's lock.
    Then rewards summed across rankers (rewardAggregation sum)."""
    _, lurl, rankers, store = cluster
    admin = PersonalizerAdministrationClient(lurl, KEY)
    a, b = (PersonalizerClient(u, KEY) for u in rankers)
    _configure(admin, rewardWaitTime="PT60S")
    # one event id ranked at both rankers at once: one stored event, both answers show it
    body = {"eventId": "twice", "contextFeatures": [{"user": {"tier": "gold"}}],
            "actions": actions("news-3", "sport-3", "music-3")}
    for _ in range(5):
        body["eventId"] += "!"
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda c: c.rank(body), (a, b)))
        assert answers[0] == answers[1] and store.event(body["eventId"]) is not None
    with pytest.raises(HttpResponseError) as err:
        b.rank({**body, "actions": actions("news-3", "sport-3")})
    assert err.value.status_code == 409
    ids = [f"d{i}" for i in range(40)]
    for eid in ids:
        a.rank({"eventId": eid, "actions": actions("news-3", "sport-3"), "deferActivation": True})
    with ThreadPoolExecutor(8) as pool:
        calls = [pool.submit(b.reward, eid, {"value": 1.0}) for eid in ids]
        calls += [pool.submit(a.activate, eid) for eid in ids]
        for c in calls:
            c.result()
    wait_until(lambda: all(f"s:{eid}" in joined(store) for eid in ids), timeout=10)
    assert {joined(store)[f"s:{eid}"] for eid in ids} == {(1.0, False)}

    _configure(admin, rewardWaitTime="PT2S", rewardAggregation="sum")
    a.rank({"eventId": "summed", "actions": actions("news-3", "sport-3")})
    a.reward("summed", {"value": 0.25})
    b.reward("summed", {"value": 0.5})
    time.sleep(0.5)
    assert "s:summed" not in joined(store)  # held until the window closes
    wait_until(lambda: joined(store).get("s:summed") == (0.75, False), timeout=15)
