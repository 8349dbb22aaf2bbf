"""The whole loop: serve decisions -> log them with propensities -> export -> evaluate offline."""

import numpy as np
import pytest
from fastapi.testclient import TestClient

from recloop.data.logs import read_parquet
from recloop.ope import ips, snips
from recloop.serve.app import create_app

TRUTH = {"a": 0.2, "b": 0.6, "c": 0.3}


def test_served_logs_evaluate_a_new_policy_offline(sqlite_db, tmp_path, config):
    rng = np.random.default_rng(2026)  # not the server's seed: its draws would decide the clicks too
    with TestClient(create_app(config(sqlite_db, tmp_path, policy="random"))) as client:
        for _ in range(600):
            out = client.post("/v1/rank", json={"context": [0.0, 0.0, 0.0, 0.0],
                                                "candidates": [{"id": i} for i in TRUTH]}).json()
            clicked = float(rng.random() < TRUTH[out["chosen_id"]])
            assert client.post(f"/v1/events/{out['event_id']}/reward", json={"value": clicked}).status_code == 204
        export = client.get("/v1/logs")
        assert export.status_code == 200
    path = tmp_path / "logs.parquet"
    path.write_bytes(export.content)
    logs = read_parquet(path)
    assert len(logs.reward) == 600
    np.testing.assert_allclose(logs.propensity, 1 / 3)
    # the policy "always show b", scored from uniform-random logs, without showing it to anyone
    target = (logs.candidates == "b").astype(float)
    for estimate in (ips(logs.reward, logs.action, logs.propensity, target),
                     snips(logs.reward, logs.action, logs.propensity, target)):
        assert estimate.ci_low <= TRUTH["b"] <= estimate.ci_high, estimate
        assert estimate.value == pytest.approx(TRUTH["b"], abs=0.12)
