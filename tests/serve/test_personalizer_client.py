"""Azure Personalizer's official client (azure-ai-personalizer 1.0.0b1) against a real ``recloop serve``.

The service runs as its own process on a loopback port; every method of
``PersonalizerClient`` and ``PersonalizerAdministrationClient`` is called through the
client as an application would, and the effects are checked in the store.
"""

from __future__ import annotations

import datetime as dt
import inspect
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

personalizer = pytest.importorskip("azure.ai.personalizer")
from azure.core.credentials import AzureKeyCredential  # noqa: E402
from azure.core.exceptions import (ClientAuthenticationError, HttpResponseError, ResourceExistsError,  # noqa: E402
                                   ResourceNotFoundError)

from recloop.serve.runner import free_port  # noqa: E402

USER_KEY, ADMIN_KEY = "user-key-for-tests", "admin-key-for-tests"

# Every public method of the two clients; test_every_method_is_covered keeps this honest.
CLIENT_METHODS = {"rank", "reward", "activate", "rank_multi_slot", "reward_multi_slot", "activate_multi_slot"}
ADMIN_METHODS = {"export_model", "import_model", "reset_model", "get_model_properties", "get_log_properties",
                 "delete_logs", "get_policy", "update_policy", "reset_policy", "get_service_configuration",
                 "update_service_configuration", "apply_from_evaluation", "create_evaluation", "get_evaluation",
                 "list_evaluations", "delete_evaluation", "create_feature_importance", "get_feature_importance",
                 "list_feature_importances", "delete_feature_importance"}


class Server:
    """``recloop serve`` in a subprocess on a free loopback port."""

    def __init__(self, tmp: Path):
        self.tmp, self.port = tmp, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db = tmp / "recloop.db"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Server":
        import httpx
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
               "RECLOOP_API_KEY": USER_KEY, "RECLOOP_ADMIN_KEY": ADMIN_KEY}
        cmd = [sys.executable, "-m", "recloop.apps", "serve", "--db", f"sqlite:///{self.db}", "--port",
               str(self.port), "--snapshot-every", "0", "--log-level", "error", "--seed", "0"]
        self.log = open(self.tmp / "server.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        end = time.monotonic() + 60
        while time.monotonic() < end:
            assert self.proc.poll() is None, (self.tmp / "server.log").read_text()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("recloop serve did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        self.log.close()

    def sql(self, query: str, *args) -> list:
        with sqlite3.connect(f"{self.db}.personalizer") as conn:
            return conn.execute(query, args).fetchall()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("pz")).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def clients(server):
    from azure.ai.personalizer import PersonalizerAdministrationClient, PersonalizerClient
    return (PersonalizerClient(server.url, AzureKeyCredential(USER_KEY)),
            PersonalizerAdministrationClient(server.url, AzureKeyCredential(ADMIN_KEY)))


@pytest.fixture
def settings(clients):
    """Restore the service configuration a test changes."""
    admin = clients[1]
    before = admin.get_service_configuration()
    yield admin
    admin.update_service_configuration({k: v for k, v in before.items()
                                        if k not in ("latestApprenticeModeMetrics", "lastConfigurationEditDate")})


def actions(*ids):
    return [{"id": i, "features": [{"item": {"genre": i.split("-")[0]}}]} for i in ids]


def joined(server, decision):
    return server.sql("SELECT value, is_default FROM recloop_rewards WHERE event_id = ?", decision)


def wait(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


def test_every_method_is_covered():
    from azure.ai.personalizer import PersonalizerAdministrationClient, PersonalizerClient

    def public(cls):
        return {n for n, _ in inspect.getmembers(cls, inspect.isfunction)
                if not n.startswith("_") and n not in ("send_request", "close")}
    assert public(PersonalizerClient) == CLIENT_METHODS
    assert public(PersonalizerAdministrationClient) == ADMIN_METHODS
    assert len(CLIENT_METHODS | ADMIN_METHODS) == 26


def test_rank_then_reward(server, clients):
    client, _ = clients
    req = {"contextFeatures": [{"user": {"tier": "gold", "age": 31}}, {"device": "mobile"}],
           "actions": actions("news-1", "sport-1", "music-1"), "excludedActions": ["music-1"], "eventId": "ev-1"}
    out = client.rank(req)
    assert out["eventId"] == "ev-1"
    probs = {r["id"]: r["probability"] for r in out["ranking"]}
    assert set(probs) == {"news-1", "sport-1", "music-1"} and probs["music-1"] == 0.0
    assert sum(probs.values()) == pytest.approx(1.0)
    assert out["rewardActionId"] in ("news-1", "sport-1") and probs[out["rewardActionId"]] > 0
    assert client.rank(req) == out  # a retry with the same event id is answered with what was stored
    with pytest.raises(ResourceExistsError):
        client.rank({**req, "excludedActions": []})
    client.reward("ev-1", {"value": 1.0})
    client.reward("ev-1", {"value": 1.0})  # the same reward again: fine
    client.reward("ev-1", {"value": 0.0})  # a later one: ignored, the earliest stands (rewardAggregation)
    assert joined(server, "s:ev-1") == [(1.0, 0)]
    logged = server.sql("SELECT chosen, propensity FROM recloop_decisions WHERE event_id = 's:ev-1'")
    assert logged == [(out["rewardActionId"], probs[out["rewardActionId"]])]
    with pytest.raises(ResourceNotFoundError):
        client.reward("no-such-event", {"value": 1.0})
    generated = client.rank({"actions": actions("a-1", "b-1")})
    assert len(generated["eventId"]) == 32
    odd = client.rank({"actions": actions("a-1", "b-1"), "eventId": "ev 1+ü%?#"})  # quoted in the URL
    client.reward(odd["eventId"], {"value": 0.5})
    assert joined(server, "s:ev 1+ü%?#") == [(0.5, 0)]


def test_bad_requests_name_the_problem_and_store_nothing(server, clients):
    client, _ = clients
    before = server.sql("SELECT COUNT(*) FROM recloop_pz_events")
    bad = [({"actions": actions("a-1", "a-1")}, "duplicate action id"),
           ({"actions": []}, "actions"),
           ({"actions": actions("a-1"), "excludedActions": ["a-1"]}, "every action is excluded"),
           ({"actions": actions("a-1"), "contextFeatures": [{"x": [1, "a"]}]}, "mixing types"),
           ({"actions": actions("a-1"), "eventId": "a/b"}, "eventId")]
    for body, message in bad:
        with pytest.raises(HttpResponseError) as err:
            client.rank(body)
        assert err.value.status_code == 400 and err.value.error.code == "BadArgument"
        assert message in err.value.error.message
    with pytest.raises(HttpResponseError) as err:
        client.reward("ev-1", {"value": 2.0})
    assert err.value.status_code == 400
    assert server.sql("SELECT COUNT(*) FROM recloop_pz_events") == before


def test_keys(server, clients):
    from azure.ai.personalizer import PersonalizerAdministrationClient, PersonalizerClient
    with pytest.raises(ClientAuthenticationError):
        PersonalizerClient(server.url, AzureKeyCredential("wrong-key-123")).rank({"actions": actions("a-1")})
    with pytest.raises(HttpResponseError) as err:
        PersonalizerAdministrationClient(server.url, AzureKeyCredential(USER_KEY)).get_policy()
    assert err.value.status_code == 403 and err.value.error.code == "PermissionDenied"
    PersonalizerClient(server.url, AzureKeyCredential(ADMIN_KEY)).rank({"actions": actions("a-1")})


def test_reward_window_default_reward_and_deferred_activation(server, clients, settings):
    client, admin = clients
    admin.update_service_configuration({"rewardWaitTime": "PT2S", "defaultReward": -0.5})
    acts = actions("a-2", "b-2")
    client.rank({"actions": acts, "eventId": "plain"})                           # no reward: default
    client.rank({"actions": acts, "eventId": "shown", "deferActivation": True})  # activated, rewarded
    client.rank({"actions": acts, "eventId": "early", "deferActivation": True})  # rewarded, then activated
    client.rank({"actions": acts, "eventId": "never", "deferActivation": True})  # rewarded, never activated
    client.rank({"actions": acts, "eventId": "silent", "deferActivation": True})  # nothing at all
    client.activate("shown")
    client.reward("shown", {"value": 1.0})
    client.reward("early", {"value": 0.5})
    client.reward("never", {"value": 1.0})
    assert joined(server, "s:early") == []  # held until activation
    client.activate("early")
    assert wait(lambda: joined(server, "s:early") == [(0.5, 0)])
    assert joined(server, "s:shown") == [(1.0, 0)]
    assert wait(lambda: joined(server, "s:plain") == [(-0.5, 1)], timeout=15)
    time.sleep(1.0)  # a sweep after the deferred windows closed
    assert joined(server, "s:never") == [] and joined(server, "s:silent") == []
    with pytest.raises(ResourceNotFoundError):
        client.activate("no-such-event")


def test_sum_aggregation(server, clients, settings):
    client, admin = clients
    admin.update_service_configuration({"rewardWaitTime": "PT1S", "rewardAggregation": "sum"})
    client.rank({"actions": actions("a-3", "b-3"), "eventId": "summed"})
    client.reward("summed", {"value": 0.25})
    client.reward("summed", {"value": 0.5})
    assert joined(server, "s:summed") == []
    assert wait(lambda: joined(server, "s:summed") == [(0.75, 0)], timeout=15)


def test_multislot_rank_reward_activate(server, clients):
    client, _ = clients
    body = {"eventId": "ms-1", "contextFeatures": [{"user": {"tier": "silver"}}],
            "actions": actions("news-4", "sport-4", "music-4"),
            "slots": [{"id": "hero", "baselineAction": "news-4", "features": [{"size": "large"}]},
                      {"id": "side", "baselineAction": "sport-4", "excludedActions": ["news-4"]}],
            "deferActivation": True}
    out = client.rank_multi_slot(body)
    chosen = {s["id"]: s["rewardActionId"] for s in out["slots"]}
    assert set(chosen) == {"hero", "side"} and chosen["hero"] != chosen["side"] and chosen["side"] != "news-4"
    assert client.rank_multi_slot(body) == out
    rows = server.sql("SELECT event_id, propensity FROM recloop_decisions WHERE event_id LIKE 'm:ms-1#%' "
                      "ORDER BY event_id")
    assert [r[0] for r in rows] == ["m:ms-1#hero", "m:ms-1#side"] and all(0 < r[1] <= 1 for r in rows)
    client.reward_multi_slot("ms-1", {"reward": [{"slotId": "hero", "value": 1.0}, {"slotId": "side", "value": 0.0}]})
    assert joined(server, "m:ms-1#hero") == []  # deferred: held until activated
    client.activate_multi_slot("ms-1")
    assert wait(lambda: joined(server, "m:ms-1#hero") == [(1.0, 0)] and joined(server, "m:ms-1#side") == [(0.0, 0)])
    with pytest.raises(ResourceNotFoundError):
        client.reward_multi_slot("ms-1", {"reward": [{"slotId": "nope", "value": 1.0}]})
    with pytest.raises(HttpResponseError) as err:
        client.rank_multi_slot({**body, "eventId": "ms-2",
                                "slots": [{"id": "x", "baselineAction": "nope"}]})
    assert err.value.status_code == 400 and "baselineAction" in err.value.error.message


def test_service_configuration_and_policy(clients, settings):
    client, admin = clients
    conf = admin.get_service_configuration()
    assert conf["rewardAggregation"] == "earliest" and conf["learningMode"] == "Online"
    new = admin.update_service_configuration({**conf, "explorationPercentage": 0, "modelExportFrequency": "00:01:00"})
    assert new["explorationPercentage"] == 0 and new["modelExportFrequency"] == "PT1M"
    assert new["lastConfigurationEditDate"] is not None
    out = client.rank({"actions": actions("a-5", "b-5", "c-5")})
    assert sorted(r["probability"] for r in out["ranking"]) in ([0, 0, 1], [0, 0.5, 0.5], [1 / 3] * 3)
    for bad in ({"learningMode": "Sometimes"}, {"rewardWaitTime": "ten minutes"}, {"explorationPercentage": 120},
                {"noSuchSetting": 1}):
        with pytest.raises(HttpResponseError) as err:
            admin.update_service_configuration(bad)
        assert err.value.status_code == 400 and list(bad)[0] in err.value.error.message
    assert admin.get_service_configuration()["explorationPercentage"] == 0  # nothing of a bad PUT applied

    policy = admin.update_policy({"name": "slower", "arguments": "--cb_explore_adf -l 0.25 --power_t 0.4 -q ::"})
    assert policy["name"] == "slower" and "learning_rate=0.25" in policy["arguments"]
    assert admin.get_policy() == policy
    with pytest.raises(HttpResponseError) as err:
        admin.update_policy({"name": "x", "arguments": "learning_rate=7"})
    assert err.value.status_code == 400 and "learning_rate" in err.value.error.message
    default = admin.reset_policy()
    assert "learning_rate=0.5" in default["arguments"] and admin.get_policy() == default


def _teach(client, n, seed=0, prefix="t"):
    """Two user tiers, three genres: gold users click news, basic users click sport."""
    rng = np.random.default_rng(seed)
    clicks = []
    for i in range(n):
        tier = ["gold", "basic"][i % 2]
        out = client.rank({"contextFeatures": [{"user": {"tier": tier}}],
                           "actions": actions("news-9", "sport-9", "music-9"), "eventId": f"{prefix}-{seed}-{i}"})
        best = "news-9" if tier == "gold" else "sport-9"
        r = float(rng.random() < (0.8 if out["rewardActionId"] == best else 0.2))
        client.reward(out["eventId"], {"value": r})
        clicks.append(r)
    return clicks


def _greedy(client, tier, i):
    out = client.rank({"contextFeatures": [{"user": {"tier": tier}}], "actions": actions("news-9", "sport-9", "music-9"),
                       "eventId": f"probe-{tier}-{i}-{time.monotonic_ns()}"})
    return max(out["ranking"], key=lambda r: r["probability"])["id"]


def test_online_learning_and_model_export_reset_import(server, clients, settings):
    client, admin = clients
    admin.reset_model()
    created = admin.get_model_properties()["creationTime"]
    admin.update_service_configuration({"explorationPercentage": 30})
    _teach(client, 300, seed=1)
    time.sleep(0.5)
    admin.update_service_configuration({"explorationPercentage": 0})
    assert _greedy(client, "gold", 0) == "news-9" and _greedy(client, "basic", 0) == "sport-9"
    model = b"".join(admin.export_model())
    assert b"".join(admin.export_model(signed=True))[:2] == b"PK"  # one npz file, signed or not
    admin.reset_model()
    props = admin.get_model_properties()
    assert props["creationTime"] > created and props["lastModifiedTime"] >= props["creationTime"]
    out = client.rank({"contextFeatures": [{"user": {"tier": "gold"}}], "actions": actions("news-9", "sport-9")})
    assert [r["probability"] for r in out["ranking"]] == [0.5, 0.5]  # a fresh model: every score ties
    admin.import_model(model)
    assert _greedy(client, "gold", 1) == "news-9" and _greedy(client, "basic", 1) == "sport-9"
    with pytest.raises(HttpResponseError) as err:
        admin.import_model(b"not a model")
    assert err.value.status_code == 400


def test_apprentice_mode_returns_the_baseline_and_reports_imitation(clients, settings):
    client, admin = clients
    admin.reset_model()
    admin.update_service_configuration({"learningMode": "Apprentice"})
    for i in range(60):
        tier = ["gold", "basic"][i % 2]
        acts = actions("news-9", "sport-9", "music-9") if tier == "gold" else actions("sport-9", "news-9", "music-9")
        out = client.rank({"contextFeatures": [{"user": {"tier": tier}}], "actions": acts, "eventId": f"app-{i}"})
        assert out["rewardActionId"] == acts[0]["id"]  # the baseline, always
        client.reward(out["eventId"], {"value": 1.0})
    time.sleep(0.5)
    m = admin.get_service_configuration()["latestApprenticeModeMetrics"]
    assert m["numberOfEvents"] == 60 and m["sumOfRewards"] == 60.0
    assert 0 < m["numberOfImitatedEvents"] <= 60 and m["sumOfImitatedRewards"] == m["numberOfImitatedEvents"]
    assert m["lastBatchMetrics"]["numberOfEvents"] == 60
    # it learned to imitate: the model's own choice is now the baseline for both tiers
    admin.update_service_configuration({"learningMode": "Online", "explorationPercentage": 0})
    assert _greedy(client, "gold", 2) == "news-9" and _greedy(client, "basic", 2) == "sport-9"


def test_logging_only_logs_and_never_learns(server, clients, settings):
    client, admin = clients
    admin.reset_model()
    admin.update_service_configuration({"learningMode": "LoggingOnly"})
    before = b"".join(admin.export_model())
    _teach(client, 20, seed=2, prefix="log")
    time.sleep(0.3)
    assert server.sql("SELECT COUNT(*) FROM recloop_pz_events WHERE event_id LIKE 'log-%'") == [(20,)]
    from recloop.serve.personalizer.model import LinearCB
    a, b = server.tmp / "a.npz", server.tmp / "b.npz"
    a.write_bytes(before)
    b.write_bytes(b"".join(admin.export_model()))
    assert np.array_equal(LinearCB.load(a).w_, LinearCB.load(b).w_)


def test_evaluation_apply_and_delete(server, clients, settings):
    client, admin = clients
    admin.reset_model()
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    admin.update_service_configuration({"explorationPercentage": 50})
    _teach(client, 400, seed=3, prefix="ev")
    end = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
    admin.create_evaluation("eval-1", {"name": "first", "startTime": start.isoformat(), "endTime": end.isoformat(),
                                       "enablePolicyOptimization": True,
                                       "policies": [{"name": "fast", "arguments": "-l 1.0"}]})
    with pytest.raises(ResourceExistsError):
        admin.create_evaluation("eval-1", {"name": "again", "startTime": start.isoformat(),
                                           "endTime": end.isoformat()})
    assert wait(lambda: admin.get_evaluation("eval-1", start_time=start, end_time=end)["status"] != "Running", 60)
    ev = admin.get_evaluation("eval-1", start_time=start, end_time=end)
    assert ev["status"] == "Succeeded", ev
    values = {v["policySource"]: v for v in ev["content"]["value"]}
    assert {"Online", "Baseline", "Random", "Custom", "OfflineExperimentation"} <= set(values)
    for v in ev["content"]["value"]:
        lo, hi = v["summary"]["confidenceInterval"]
        assert lo <= v["summary"]["expectedReward"] <= hi
    # truth of this world: random earns (0.8 + 0.2 + 0.2) / 3 = 0.4, the baseline (news first) 0.5
    rnd, base = values["Random"]["summary"], values["Baseline"]["summary"]
    assert rnd["confidenceInterval"][0] <= 0.4 <= rnd["confidenceInterval"][1]
    assert base["confidenceInterval"][0] <= 0.5 <= base["confidenceInterval"][1]
    assert values["Custom"]["summary"]["expectedReward"] > rnd["confidenceInterval"][1]
    assert ev["optimalPolicy"] in [v["name"] for v in ev["content"]["value"] if v["arguments"]]
    assert [e["id"] for e in admin.list_evaluations()] == ["eval-1"]
    admin.apply_from_evaluation({"evaluationId": "eval-1", "policyName": ev["optimalPolicy"]})
    assert admin.get_policy()["name"] == ev["optimalPolicy"]
    assert admin.get_evaluation("eval-1", start_time=start, end_time=end)["status"] == "OptimalPolicyApplied"
    admin.update_service_configuration({"explorationPercentage": 0})
    assert _greedy(client, "gold", 3) == "news-9" and _greedy(client, "basic", 3) == "sport-9"
    admin.delete_evaluation("eval-1")
    with pytest.raises(ResourceNotFoundError):
        admin.get_evaluation("eval-1", start_time=start, end_time=end)
    admin.reset_policy()


def test_delete_logs(server, clients):
    client, admin = clients
    client.rank({"actions": actions("a-6", "b-6"), "eventId": "to-delete"})
    assert admin.get_log_properties()["dateRange"]["to"] is not None
    admin.delete_logs()
    assert admin.get_log_properties() == {"dateRange": {"from": None, "to": None}}
    assert server.sql("SELECT COUNT(*) FROM recloop_decisions") == [(0,)]
    out = client.rank({"actions": actions("a-6", "b-6"), "eventId": "after-delete"})  # the loop goes on
    client.reward(out["eventId"], {"value": 1.0})
    assert joined(server, "s:after-delete") == [(1.0, 0)]


def test_feature_importances_answer_501(clients):
    _, admin = clients
    calls = [lambda: admin.create_feature_importance("fi", {"name": "fi", "startTime": "2026-01-01T00:00:00Z",
                                                            "endTime": "2026-01-02T00:00:00Z"}),
             lambda: admin.get_feature_importance("fi"), lambda: list(admin.list_feature_importances()),
             lambda: admin.delete_feature_importance("fi")]
    for call in calls:
        with pytest.raises(HttpResponseError) as err:
            call()
        assert err.value.status_code == 501 and err.value.error.code == "NotImplemented"


def test_the_quickstart_example_runs_against_the_service(server):
    out = subprocess.run([sys.executable, str(Path(__file__).resolve().parents[2] / "examples" /
                                              "personalizer_quickstart.py"), "--endpoint", server.url, "--key",
                          USER_KEY, "--rounds", "200", "--seed", "5"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "first rank: {'eventId': 'quickstart-5-1'" in out.stdout and "rounds  101- 200" in out.stdout
