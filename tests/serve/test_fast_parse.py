"""The quick parser of rank requests: it must agree with RankRequest wherever it answers,
and leave everything unusual or wrong to RankRequest (which names the problem)."""

import hashlib
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from recloop.serve.app import _parse, create_app
from recloop.serve.schemas import RankInput, RankRequest, fast_rank, request_digest

F = [[0.5, -1.0, 2.0], [0.0, 1.0, 3.0], [1.0, 1.0, 1.0]]


def _req(**kw):
    base = {"context": [0.1, 0.2, 0.3, 0.4], "candidates": [{"id": i, "features": f} for i, f in zip("abc", F)]}
    base.update(kw)
    return json.dumps(base).encode()


AGREE = [
    _req(),
    _req(event_id="ev:1.x-y_z", k=2, excluded=["b"]),
    _req(context=[1, 2, 3, 4]),                                             # integers are numbers too
    _req(candidates=[{"id": 7, "features": [1, 2]}, {"features": [3.5, 4], "id": "8"}]),  # integer ids
    _req(context=[]),
    _req(context=None, k=3, excluded=[]),
    _req(excluded=[7, "a"]),
]


@pytest.mark.parametrize("raw", AGREE)
def test_quick_parse_agrees_with_pydantic(raw):
    quick, slow = fast_rank(raw), RankInput.from_model(_parse(RankRequest, raw))
    assert quick is not None
    assert (quick.event_id, quick.ids, quick.k, quick.excluded) == (slow.event_id, slow.ids, slow.k, slow.excluded)
    assert quick.packed == slow.packed
    np.testing.assert_array_equal(np.array(quick.features, dtype=float), np.array(slow.features, dtype=float))
    if slow.context is None:
        assert quick.context is None
    else:
        np.testing.assert_array_equal(quick.context, np.asarray(slow.context, dtype=float))
        assert quick.context.dtype == np.float64
    x = np.array([0.1, 0.2, 0.3, 0.4])
    assert quick.fingerprint(x) == slow.fingerprint(x)


DECLINE = [
    b'{"context": [1, 2',                                                   # malformed
    b'[]',
    _req(context=[True, 0, 0, 0]),                                          # a boolean is not a number
    _req(candidates=[{"id": "a", "features": [1.0, False]}]),
    _req(candidates=[{"id": True, "features": [1.0]}]),
    _req(context=["1", 0, 0, 0]),                                           # nor is a numeric string
    _req(candidates=[{"id": "a", "features": ["1.5"]}]),
    _req(candidates=[{"id": "a", "features": [1.0, None]}]),
    _req(candidates=[{"id": "a", "features": [1.0]}, {"id": "b", "features": [1.0, 2.0]}]),  # ragged
    _req(candidates=[{"id": "a", "features": [[1.0]]}]),
    _req(candidates=[{"id": "a", "features": []}]),
    _req(candidates=[{"id": "a", "features": [1.0]}, {"id": "b"}]),         # some without features
    _req(candidates=[{"id": "a", "features": [1.0], "x": 1}]),
    _req(candidates=[{"id": None, "features": [1.0]}]),
    _req(candidates=[{"id": 1.5, "features": [1.0]}]),
    _req(candidates=[]),
    _req(context={"b": 1.0, "a": 2.0}),                                     # named features: the general path
    _req(context=[[1.0]]),
    _req(surprise=1),
    _req(event_id="bad id!"),
    _req(event_id="x" * 129),
    _req(event_id="abc\n"),
    _req(k=0), _req(k=1001), _req(k=1.0), _req(k="1"),
    _req(excluded="a"), _req(excluded=[None]), _req(excluded=["a"] * 1001),
    _req(candidates=[{"id": "a", "features": [18446744073709551615]}]),   # beyond int64
    _req(candidates=[{"id": "a", "features": [1e300]}]),                  # beyond VALUE_LIMIT
    _req(context=[0.0, -2e15, 0.0, 0.0]),
]


@pytest.mark.parametrize("raw", DECLINE)
def test_quick_parse_leaves_the_unusual_to_pydantic(raw):
    assert fast_rank(raw) is None


WRONG = [  # quick-parsed requests that the service itself must refuse, precisely
    (_req(candidates=[{"id": "a", "features": [1.0]}, {"id": "a", "features": [2.0]}]), "duplicate candidate id 'a'"),
    (_req(k=4), "k=4 exceeds the 3"),
    (_req(excluded=["a", "b", "c"]), "every candidate"),
    (_req(excluded=["a", "b"], k=2), "k=2 exceeds the 1"),
    (_req(context=[0.0, 1.0]), "2 features; the policy expects 4"),
    (_req(context=None), "context is required"),
]


@pytest.mark.parametrize("raw,message", WRONG, ids=[m for _, m in WRONG])
def test_quick_parsed_but_wrong_requests_get_precise_errors(sqlite_db, tmp_path, config, raw, message):
    assert fast_rank(raw) is not None
    with TestClient(create_app(config(sqlite_db, tmp_path))) as c:
        r = c.post("/v1/rank", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 422 and message in r.json()["error"], r.text
        assert c.app.state.service.store.counts()["decisions"] == 0


def test_a_retry_is_recognised_whichever_parser_read_it(sqlite_db, tmp_path, config):
    with TestClient(create_app(config(sqlite_db, tmp_path))) as c:
        first = c.post("/v1/rank", content=_req(event_id="r1"), headers={"content-type": "application/json"})
        assert first.status_code == 200
        # the same request, named context (pydantic's path) ordered to the same vector
        named = _req(event_id="r1", context={"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4})
        assert fast_rank(named) is None
        again = c.post("/v1/rank", content=named, headers={"content-type": "application/json"})
        assert again.status_code == 200 and again.json() == first.json()
        other = c.post("/v1/rank", content=_req(event_id="r1", k=2), headers={"content-type": "application/json"})
        assert other.status_code == 409


HUGE = [  # each would overflow LinUCB's x x^T and leave NaN in its matrices once rewarded
    (_req(context=[1e300, 0.0, 0.0, 0.0]), "context"),
    (_req(candidates=[{"id": "a", "features": [1.0, 2e15, 0.0, 0.0]}]), "features"),
    (_req(context={"a": 0.1, "b": -1e200, "c": 0.0, "d": 0.0}), "context"),
]


@pytest.mark.parametrize("raw,field", HUGE, ids=[f for _, f in HUGE])
def test_numbers_beyond_the_limit_are_refused_and_the_model_keeps_serving(sqlite_db, tmp_path, config, raw, field):
    with TestClient(create_app(config(sqlite_db, tmp_path))) as c:
        r = c.post("/v1/rank", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 422 and field in r.json()["error"] and "1000000000000000" in r.json()["error"], r.text
        ok = c.post("/v1/rank", content=_req(), headers={"content-type": "application/json"})
        assert ok.status_code == 200, ok.text
        reward = c.post(f"/v1/events/{ok.json()['event_id']}/reward", json={"value": 1e300})
        assert reward.status_code == 422 and "value" in reward.json()["error"], reward.text
        assert c.app.state.service.store.counts()["decisions"] == 1
        c.post(f"/v1/events/{ok.json()['event_id']}/reward", json={"value": 1.0})
        again = c.post("/v1/rank", content=_req(), headers={"content-type": "application/json"})
        assert again.status_code == 200 and np.isfinite([i["probability"] for i in again.json()["ranking"]]).all()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=5000), max_size=4))
def test_request_digests_fed_in_pieces_are_the_sha256_of_the_whole(parts):
    """Stored request hashes must not change with how a digest is fed (a retry of an event
    logged by an earlier version is compared with its stored hash)."""
    assert request_digest(*parts) == hashlib.sha256(b"".join(parts)).hexdigest()
