"""Request and response bodies of the HTTP API (they also make the OpenAPI spec)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Annotated, Any, Union

import numpy as np
import orjson
from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, StrictInt,
                      StringConstraints, Tag)
from pydantic_core import PydanticCustomError

from recloop.serve.records import pack_features

EVENT_ID_PATTERN = r"^[A-Za-z0-9._:\-]{1,128}$"
# Item ids: what every store keeps as given. PostgreSQL refuses NUL in text and the
# decision/reward rows hold the chosen id in a 256-character column, so longer ids or
# NUL were refused there but accepted by SQLite, and one such id failed every request
# of its group commit. Refused here, for both stores alike: empty ids, ids over 256
# characters, and control characters (C0 and DEL: never part of a real id, and they
# corrupt logs). Lone surrogates never get this far: the JSON parsers refuse them.
ITEM_ID_MAX = 256
ITEM_ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"
_BAD_ID_CHAR = re.compile(r"[\x00-\x1f\x7f]")


def _id_text(v: Any) -> Any:
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)  # integer ids are served as their decimal string
    return v


def item_id_problem(item_id: str) -> str | None:
    """Why the store would refuse ``item_id`` (None: it is fine)."""
    if not item_id:
        return "item id is empty"
    if len(item_id) > ITEM_ID_MAX:
        return f"item id of {len(item_id)} characters; at most {ITEM_ID_MAX}"
    if _BAD_ID_CHAR.search(item_id):
        return "item id holds a control character (NUL, newline, ...)"
    return None


# Features and rewards beyond this size are refused: the linear policies square them (x x^T,
# x^T A x), so one 1e300 feature would overflow to inf, turn the model's matrices into NaN at its
# reward, and every later decision would fail. 1e15 leaves room for raw counts and prices.
VALUE_LIMIT = 1e15
# strict: JSON numbers only (ints welcome), never booleans or numeric strings; no NaN/inf.
# A core (Rust) check, not a Python validator: a request carries hundreds of these.
FiniteFloat = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-VALUE_LIMIT, le=VALUE_LIMIT)]
ItemId = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=ITEM_ID_MAX, pattern=ITEM_ID_PATTERN),
                   BeforeValidator(_id_text),
                   Field(description=f"item id: 1-{ITEM_ID_MAX} characters, no control characters "
                                     "(integers are turned into strings)")]
EventId = Annotated[str, Field(pattern=EVENT_ID_PATTERN, description="1-128 characters of [A-Za-z0-9._:-]")]

# A context given as a JSON object: namespaced features as teams send them (Personalizer's
# contextFeatures), turned into a vector by the model's Featuriser (recloop.data.features).
# Checked here for what the API promises everywhere: numbers within VALUE_LIMIT, and a
# boolean is not a number (the featuriser would read true as 1). The featuriser itself
# names what it cannot encode (null, lists mixing types).
CONTEXT_FEATURES_MAX = 4096


def feature_object_problem(obj: dict) -> str | None:
    """Why the context object ``obj`` is refused (None: it is fine)."""
    count = 0
    stack: list[tuple[str, Any]] = list(obj.items())
    while stack:
        name, v = stack.pop()
        if type(v) is dict:
            stack.extend((f"{name}.{k}", x) for k, x in v.items())
            continue
        for x in (v if type(v) is list else (v,)):
            count += 1
            if type(x) is bool:
                return (f"feature {name!r} is a boolean ({str(x).lower()}); a feature is a number, a string "
                        "(a category) or a list or object of them: send 1/0 or a string")
            if type(x) in (int, float) and not abs(x) <= VALUE_LIMIT:  # NaN fails it too; big ints compare exactly
                return (f"feature {name!r} is {x}: numbers must be finite, between -{VALUE_LIMIT:.0f} "
                        f"and {VALUE_LIMIT:.0f}")
    if count > CONTEXT_FEATURES_MAX:
        return f"{count} feature values; at most {CONTEXT_FEATURES_MAX}"
    return None


def _feature_object(obj: dict) -> dict:
    problem = feature_object_problem(obj)
    if problem:
        raise PydanticCustomError("feature_object", problem)
    return obj


def _context_kind(v: Any) -> str | None:
    # the tags hold "[" so that error locations leave them out (app._loc), as pydantic's own union labels
    return "list[number]" if isinstance(v, list) else "dict[str, feature]" if isinstance(v, dict) else None


Context = Annotated[
    Union[Annotated[list[FiniteFloat], Tag("list[number]")],
          Annotated[dict[str, Any], AfterValidator(_feature_object), Tag("dict[str, feature]")]],
    Discriminator(_context_kind, custom_error_type="context_type",
                  custom_error_message="context must be a list of numbers or a JSON object of features")]


class Candidate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: ItemId
    features: list[FiniteFloat] | None = Field(default=None, max_length=4096,
                                               description="item features (stored and logged)")


class RankRequest(BaseModel):
    """One decision: who is asking (``context``) and what may be shown (``candidates``)."""

    model_config = ConfigDict(extra="forbid")

    event_id: EventId | None = Field(default=None, description="client id of the event; generated when absent. "
                                     "Re-sending the same request with the same id returns the stored decision.")
    context: Context | None = Field(
        default=None, description="user features: a vector of numbers, or a JSON object of named features "
        "(nested objects, numbers, strings, lists of them), featurised by the model's featuriser; without "
        "one, a flat object of numbers is the vector of its values ordered by name")
    candidates: list[Candidate] = Field(min_length=1, description="items to choose among; ids unique")
    k: StrictInt = Field(default=1, ge=1, le=1000, description="how many items to return (chosen first)")
    excluded: list[ItemId] = Field(default_factory=list, max_length=1000,
                                   description="candidate ids that must not be shown")


class RankedItem(BaseModel):
    id: str
    score: float
    probability: float = Field(description="probability that the policy would have chosen this item first")


class RankResponse(BaseModel):
    event_id: str
    ranking: list[RankedItem]
    chosen_id: str
    model_version: str


class RewardRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: FiniteFloat
    item_id: ItemId | None = Field(default=None, description="must be the chosen item when given")


class ModelInfo(BaseModel):
    version: int
    name: str
    watermark: int = Field(description="rewards up to this sequence number are in the model")
    parent: int | None
    note: str
    sha256: str
    created: float
    active: bool
    stored: bool = Field(description="the saved policy is still in the store (false once pruned)")


class ModelsResponse(BaseModel):
    active: int
    watermark: int
    models: list[ModelInfo]


class Problem(BaseModel):
    """Every error answer: a message that names the problem."""

    error: str
    detail: Any = None


# ---------------------------------------------------------------- the hot path's parser
# pydantic builds 20 Candidate objects and checks 336 floats one by one: ~40 us of a
# rank request's CPU. The usual request (candidates with equal-length feature
# vectors, a context vector) is parsed here with orjson and numpy instead, in
# ~15 us; anything unusual or wrong (None features, a named context, a boolean,
# a string where a number belongs, ...) returns None and goes to RankRequest, which
# then accepts it or names the problem. So this accepts nothing RankRequest rejects.

_EVENT_ID = re.compile(EVENT_ID_PATTERN)
_RANK_KEYS = frozenset(RankRequest.model_fields)
_NUMERIC = (np.dtype(np.float64), np.dtype(np.int64))


@dataclass(slots=True)
class RankInput:
    """A valid rank request in the form the service uses."""

    event_id: str | None
    context: Any                  # float64 vector, list, dict or None (as RankRequest allows)
    ids: list[str]
    features: list[Any]              # per candidate: a list or a float64 row, or None
    packed: tuple[bytes | None, int]  # all candidates' features as float64 bytes (NaN-padded) and their width
    k: int
    excluded: list[str]

    @classmethod
    def from_model(cls, req: RankRequest) -> "RankInput":
        feats = [c.features for c in req.candidates]
        return cls(req.event_id, req.context, [c.id for c in req.candidates], feats, pack_features(feats),
                   req.k, list(req.excluded))

    def fingerprint(self, x: np.ndarray | None) -> str:
        """What makes two requests "the same" for a client-chosen event id (a retry)."""
        return request_digest(orjson.dumps([self.event_id, self.ids, self.k, self.excluded, self.packed[1]]),
                              b"" if x is None else x.tobytes(), self.packed[0] or b"")


def request_digest(*parts: bytes) -> str:
    """SHA-256 of ``parts`` in a request handler, fed in pieces under 2 KiB: for 2 KiB or
    more hashlib lets the GIL go, and the event loop then waits for the writer thread to
    hand it back (a 2.5 KiB digest beside a busy thread: ~60 us, not ~4)."""
    h = hashlib.sha256()
    for part in parts:
        view = memoryview(part)
        for i in range(0, len(view), _GIL_KEPT):
            h.update(view[i:i + _GIL_KEPT])
    return h.hexdigest()


_GIL_KEPT = 2047  # CPython's hashlib releases the GIL from 2048 bytes (HASHLIB_GIL_MINSIZE)


def _in_range(a: np.ndarray) -> bool:
    """Finite and within ``VALUE_LIMIT`` (NaN fails the comparison too)."""
    return bool((np.abs(a) <= VALUE_LIMIT).all())


def json_object(raw: bytes, keys: frozenset[str]) -> dict | None:
    """``raw`` as a JSON object whose keys are all in ``keys``; None for anything else (bad
    JSON, another type, an unknown key): a quick parser then leaves the body to its
    pydantic model, which names the problem."""
    try:
        d = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return d if type(d) is dict and d.keys() <= keys else None


def fast_rank(raw: bytes) -> RankInput | None:
    """``raw`` parsed as a RankRequest, or None: "let RankRequest decide"."""
    if b"true" in raw or b"false" in raw:  # numpy would read a JSON boolean as 1/0
        return None
    d = json_object(raw, _RANK_KEYS)
    if d is None:
        return None
    event_id = d.get("event_id")
    if event_id is not None and (type(event_id) is not str or not _EVENT_ID.fullmatch(event_id)):
        return None
    k = d.get("k", 1)
    if type(k) is not int or not 1 <= k <= 1000:
        return None
    cands = d.get("candidates")
    if type(cands) is not list or not cands:
        return None
    try:
        ids = [c["id"] for c in cands]
        feats = [c["features"] for c in cands]
    except (TypeError, KeyError):  # not objects, or no features: the general path
        return None
    if any(len(c) != 2 for c in cands) or set(map(type, feats)) != {list}:
        return None  # an unknown key, or features that are not a list
    id_types = set(map(type, ids))
    if id_types != {str}:
        if not id_types <= {str, int}:
            return None
        ids = [i if type(i) is str else str(i) for i in ids]
    if min(map(len, ids)) < 1 or max(map(len, ids)) > ITEM_ID_MAX or _BAD_ID_CHAR.search("".join(ids)):
        return None  # RankRequest names the id and the problem
    excluded = d.get("excluded", [])
    if type(excluded) is not list or len(excluded) > 1000:
        return None
    if excluded:
        excluded = [e if type(e) is str else str(e) for e in excluded if type(e) in (str, int)]
        if len(excluded) != len(d["excluded"]) or any(item_id_problem(e) for e in excluded):
            return None
    try:
        F = np.array(feats)
        ctx = d.get("context")
        x = None if ctx is None else np.array(ctx)
    except (ValueError, TypeError, OverflowError):  # ragged, or not numbers
        return None
    if F.ndim != 2 or F.dtype not in _NUMERIC or not 1 <= F.shape[1] <= 4096:
        return None
    if x is not None:
        if type(ctx) is not list or x.ndim != 1 or (x.dtype not in _NUMERIC and x.size):
            return None
        x = x.astype(np.float64)
        if not _in_range(x):
            return None
    F = F.astype(np.float64)  # a copy: the row bytes are what is stored
    if not _in_range(F):
        return None
    return RankInput(event_id, x, ids, list(F), (F.tobytes(), F.shape[1]), k, excluded)
