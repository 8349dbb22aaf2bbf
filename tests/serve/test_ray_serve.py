"""Rankers as a Ray Serve deployment: a real local Ray (2 CPUs), the real PostgreSQL store,
requests through Serve's HTTP proxy; and the CLI's ``--ray-replicas`` wiring and refusals."""

import os
import signal
import threading

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from recloop.apps.cli import app as cli
from recloop.serve.app import create_app
from recloop.serve.runner import BackgroundServer, free_port, wait_until
from recloop.serve.store import Store

PG_URL = "postgresql+psycopg://recloop@db-host/recloop"  # the CLI tests connect to nothing


def test_rankers_on_ray_serve(db, tmp_path, config):
    if db[0].startswith("sqlite"):
        pytest.skip("rankers on many processes need PostgreSQL")
    pytest.importorskip("ray.serve", reason="Ray Serve is not installed: pip install 'recloop[ray]'")
    import ray

    from recloop.serve.ray_serve import REPLICA_HEADER, deploy_rankers, undeploy_rankers

    learner_cfg = config(db, tmp_path, role="learner", lease_s=2.0)
    key = {"X-API-Key": "ray-rank-key"}  # travels to the replicas with the deployment
    ranker_cfg = config(db, tmp_path, role="ranker", model_refresh_s=0.2, api_key=key["X-API-Key"])
    started = not ray.is_initialized()
    if started:  # a fresh local instance, never a cluster this machine happens to run
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        with BackgroundServer(create_app(learner_cfg)) as learner:
            serving = f"v{httpx.get(f'{learner}/healthz').json()['model_version']}"  # the learner published it
            port = free_port()
            deploy_rankers(ranker_cfg, 2, port=port, cpus_per_replica=0.5)  # half of Ray's 2 CPUs stay free
            proxy = f"http://127.0.0.1:{port}"
            acked: dict[str, float] = {}
            replicas: set[str] = set()
            lock = threading.Lock()

            def client(n):
                rng = np.random.default_rng(n)
                with httpx.Client(base_url=proxy, headers=key, timeout=30) as http:
                    for _ in range(15):
                        r = http.post("/v1/rank", json={"context": rng.normal(size=4).tolist(),
                                                        "candidates": [{"id": f"i{k}"} for k in range(5)]})
                        assert r.status_code == 200, r.text
                        ev = r.json()
                        assert ev["model_version"] == serving
                        value = float(rng.random() < 0.5)
                        w = http.post(f"/v1/events/{ev['event_id']}/reward", json={"value": value})
                        assert w.status_code == 204, w.text
                        with lock:
                            acked[ev["event_id"]] = value
                            replicas.update((r.headers[REPLICA_HEADER], w.headers[REPLICA_HEADER]))

            threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert len(acked) == 60
            assert httpx.post(f"{proxy}/v1/rank", json={"context": [0, 0, 0, 0], "candidates": [{"id": "x"}]}
                              ).status_code == 401  # no key
            assert len(replicas) == 2  # both replicas served
            # every acknowledged decision and reward is stored once; the learner learned each once
            # (rankers put rewards in the inbox; the learner moves them into the log as it learns them)
            wait_until(lambda: httpx.get(f"{learner}/healthz").json()["watermark"] == 60, timeout=30)
            store = Store(db[0], schema=db[1])
            assert store.counts() == {"decisions": 60, "rewards": 60}
            for ev, value in acked.items():
                assert store.reward(ev)["value"] == value and store.decision(ev).model_version == serving
            # a published version reaches the replicas, and decisions record it
            head = httpx.post(f"{learner}/v1/models/snapshot", json={}).json()
            assert head["watermark"] == 60
            body = {"context": [0, 0, 0, 0], "candidates": [{"id": "x"}, {"id": "y"}]}

            def replicas_on_head():
                seen = {}
                for _ in range(20):
                    r = httpx.post(f"{proxy}/v1/rank", json=body, headers=key)
                    seen[r.headers[REPLICA_HEADER]] = r.json()
                return len(seen) == 2 and all(ev["model_version"] == f"v{head['version']}" for ev in seen.values())
            wait_until(replicas_on_head, timeout=30)
            some = httpx.post(f"{proxy}/v1/rank", json=body, headers=key).json()
            assert store.decision(some["event_id"]).model_version == f"v{head['version']}"
            store.close()
    finally:
        if started:
            ray.shutdown()  # the whole local instance: Serve, proxy and replicas
        else:
            undeploy_rankers()


def test_ray_serve_refuses_what_cannot_rank(tmp_path, config):
    from recloop.serve.ray_serve import ranker_application

    db = (PG_URL, None)
    with pytest.raises(ValueError, match="role must be ranker, got 'learner'"):
        ranker_application(config(db, tmp_path, role="learner"), 2)
    for replicas in (0, 1.5, True):
        with pytest.raises(ValueError, match="replicas must be a positive integer"):
            ranker_application(config(db, tmp_path, role="ranker"), replicas)
    with pytest.raises(ValueError, match="cpus_per_replica must be > 0"):
        ranker_application(config(db, tmp_path, role="ranker"), 2, cpus_per_replica=0)
    with pytest.raises(KeyError, match="no-such-policy"):
        ranker_application(config(db, tmp_path, role="ranker", policy="no-such-policy"), 2)


@pytest.mark.parametrize("args, message", [
    (["--role", "learner", "--ray-replicas", "2"], "--ray-replicas runs rankers"),
    (["--role", "ranker", "--ray-replicas", "-1"], "--ray-replicas must be >= 0"),
    (["--role", "ranker", "--ray-replicas", "2", "--workers", "2"], "--workers or --ray-replicas"),
    (["--role", "ranker", "--ray-address", "auto"], "--ray-address needs --ray-replicas"),
])
def test_cli_refuses_ray_replicas_that_cannot_work(args, message):
    result = CliRunner().invoke(cli, ["serve", "--db", PG_URL, *args])
    assert result.exit_code == 2 and message in result.output, result.output


def test_cli_deploys_rankers_on_ray_and_removes_them_on_sigterm(monkeypatch):
    import recloop.experiment.ray_backend as ray_backend
    import recloop.serve.ray_serve as ray_serve

    calls = []

    def deploy(config, replicas, **kw):
        calls.append(("deploy", config, replicas, kw))
        os.kill(os.getpid(), signal.SIGTERM)  # a service manager stops it once the replicas serve

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(ray_backend, "init_ray", lambda address: calls.append(("init", address)) or False)
    monkeypatch.setattr(ray_serve, "deploy_rankers", deploy)
    monkeypatch.setattr(ray_serve, "undeploy_rankers", lambda: calls.append(("undeploy",)))
    result = CliRunner().invoke(cli, ["serve", "--role", "ranker", "--db", PG_URL, "--ray-replicas", "3",
                                      "--ray-address", "auto", "--port", "8123"])
    assert result.exit_code == 0, result.output
    (init, address), (deploy_, config, replicas, kw), (undeploy,) = calls
    assert (init, address, deploy_, replicas, kw, undeploy) == (
        "init", "auto", "deploy", 3, {"host": "127.0.0.1", "port": 8123}, "undeploy")
    assert config.role == "ranker" and config.db == PG_URL
    assert signal.getsignal(signal.SIGTERM) is before  # the process's own handler is back
