"""The quick parser of Personalizer rank requests: where it answers, exactly what RankRequest
gives (ids, features, digest body); everything unusual or wrong is left to RankRequest."""

import hashlib
import json

import orjson
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from recloop.serve.personalizer.loop import Refused
from recloop.serve.personalizer.routes import _parse, _parse_rank
from recloop.serve.personalizer.schemas import RankInput, RankRequest, fast_rank

# integers of 19 digits and more go to pydantic (orjson reads those past 64 bits as floats)
scalars = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-10**18 + 1, 10**18 - 1),
                    st.booleans(), st.text(max_size=8), st.none())
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=4), inner, max_size=3)),
                      max_leaves=8)
feature_dicts = st.dictionaries(st.text(max_size=6), values, max_size=4)
ids = st.text(min_size=1, max_size=12)


@st.composite
def bodies(draw):
    """Rank bodies as clients send them, most of them valid."""
    actions = draw(st.lists(st.fixed_dictionaries({"id": ids}, optional={
        "features": st.lists(feature_dicts, max_size=3)}), min_size=1, max_size=6))
    body = {"actions": actions}
    optional = {"contextFeatures": st.one_of(st.none(), st.lists(feature_dicts, max_size=3)),
                "excludedActions": st.one_of(st.none(), st.lists(st.sampled_from([a["id"] for a in actions]),
                                                                 max_size=2)),
                "eventId": st.one_of(st.none(), st.from_regex(r"[a-z0-9:\-]{1,20}", fullmatch=True)),
                "deferActivation": st.booleans()}
    for key, strategy in optional.items():
        if draw(st.booleans()):
            body[key] = draw(strategy)
    return body


def pydantic(raw: bytes) -> RankInput | str:
    try:
        return RankInput.from_model(_parse(RankRequest, raw))
    except Refused as err:
        return err.message


def digest(body: dict) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def check(raw: bytes) -> RankInput | None:
    quick, slow = fast_rank(raw), pydantic(raw)
    if quick is not None:
        assert isinstance(slow, RankInput), slow  # never accepts what RankRequest refuses
        assert quick == slow
        assert digest(quick.body) == digest(slow.body)
        assert _parse_rank(raw) == slow
    elif isinstance(slow, str):
        with pytest.raises(Refused) as err:
            _parse_rank(raw)
        assert err.value.message == slow  # the same answer as before
    return quick


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=bodies())
def test_valid_bodies_parse_exactly_as_pydantic_does(body):
    raw = json.dumps(body).encode()
    assert check(raw) is not None


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=bodies(), path=st.lists(st.integers(0, 5), min_size=1, max_size=4),
       junk=st.one_of(values, st.integers(), st.floats(), st.text()))
def test_altered_bodies_agree_or_go_to_pydantic(body, path, junk):
    """Any one value replaced by anything (a wrong type, a null, a big list...)."""
    node: object = body
    for step in path[:-1]:
        items = list(node.values()) if isinstance(node, dict) else node if isinstance(node, list) else []
        if not items:
            break
        node = items[step % len(items)]
    if isinstance(node, dict) and node:
        node[sorted(node)[path[-1] % len(node)]] = junk
    elif isinstance(node, list) and node:
        node[path[-1] % len(node)] = junk
    check(json.dumps(body).encode())


@pytest.mark.parametrize("raw", [
    b'{"actions": [{"id": "a", "features": [{"x": 1}]}]}',
    b'{"actions": [{"id": "a"}], "contextFeatures": [{"u": {"v": [1, 2.5, "s"]}}], "eventId": "e-1"}',
    b'{"actions": [{"id": "a", "features": [{"x": 1, "x": 2}]}], "actions": [{"id": "b"}]}',  # last one wins
    b'{"actions": [{"id": "a", "features": [{"x": -0.0, "y": 1e300, "z": 12345678901234567}]}]}',
    b'{"actions": [{"id": "a", "features": [{"x": 0.00016738225357670625, "y": 123456789012345678901.5}]}]}',
    b'{"actions": [{"id": "\\u00e9\\ud83d\\ude00"}], "excludedActions": []}',
    b'{"actions": [{"id": "a", "features": [{"x": ' + b"[" * 150 + b"]" * 150 + b'}]}]}',  # deep, within both limits
])
def test_quick_answers(raw):
    assert check(raw) is not None


@pytest.mark.parametrize("raw", [
    b'{"actions": [{"id": "a"}]',                                              # malformed
    b'[]',
    b'{"actions": []}',
    b'{"actions": [{"id": "a"}], "extra": 1}',
    b'{"actions": [{"id": "a", "more": 1}]}',
    b'{"actions": [{"id": 7}]}',                                               # not a string
    b'{"actions": [{"id": ""}]}',
    b'{"actions": [{"id": "a", "features": null}]}',
    b'{"actions": [{"id": "a", "features": [1]}]}',
    b'{"actions": [{"id": "a"}], "deferActivation": "true"}',                  # pydantic reads it as true
    b'{"actions": [{"id": "a"}], "deferActivation": 1}',
    b'{"actions": [{"id": "a"}], "eventId": "a/b"}',
    b'{"actions": [{"id": "a"}], "eventId": "ab\\n"}',
    b'{"actions": [{"id": "a"}], "excludedActions": [1]}',
    b'{"actions": [{"id": "a", "features": [{"x": NaN}]}]}',                 # pydantic takes NaN; the featuriser refuses it
    b'{"actions": [{"id": "a", "features": [{"x": 123456789012345678901}]}]}',  # past 64 bits: pydantic keeps the int
    b'{"actions": [{"id": "a", "features": [{"x": ' + b"[" * 300 + b"]" * 300 + b'}]}]}',  # too deep for pydantic
])
def test_unusual_bodies_go_to_pydantic(raw):
    assert check(raw) is None


def test_long_requests_are_still_quick():
    body = {"actions": [{"id": f"a{i}", "features": [{"item": {"g": "x", "p": i}}]} for i in range(300)]}
    assert check(json.dumps(body).encode()) is not None


@pytest.mark.parametrize("depth", range(180, 205, 3))
def test_nesting_near_pydantics_limit(depth):
    inner = b"[" * depth + b"]" * depth
    check(b'{"actions": [{"id": "a", "features": [{"x": ' + inner + b'}]}]}')
    check(b'{"actions": [{"id": "a"}], "contextFeatures": [{"x": ' + inner + b'}]}')
