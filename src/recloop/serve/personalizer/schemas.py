"""Personalizer's request bodies and settings, as its client (api-version 2022-09-01-preview) sends them."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from recloop.serve.schemas import json_object

EVENT_ID = r"^[^/\\\x00-\x1f]{1,100}$"  # it travels in the URL path: no slashes
_ID = Field(min_length=1, max_length=256)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RankableAction(_Body):
    id: str = _ID
    features: list[dict[str, Any]] = Field(default_factory=list, max_length=64)


class RankRequest(_Body):
    actions: list[RankableAction] = Field(min_length=1, max_length=1000)
    contextFeatures: list[dict[str, Any]] | None = Field(default=None, max_length=64)
    excludedActions: list[str] | None = Field(default=None, max_length=1000)
    eventId: str | None = Field(default=None, pattern=EVENT_ID)
    deferActivation: bool = False


class Slot(_Body):
    id: str = _ID
    baselineAction: str = _ID
    excludedActions: list[str] | None = Field(default=None, max_length=1000)
    features: list[dict[str, Any]] | None = Field(default=None, max_length=64)


class MultiSlotRankRequest(_Body):
    actions: list[RankableAction] = Field(min_length=1, max_length=1000)
    slots: list[Slot] = Field(min_length=1, max_length=50)
    contextFeatures: list[dict[str, Any]] | None = Field(default=None, max_length=64)
    eventId: str | None = Field(default=None, pattern=EVENT_ID)
    deferActivation: bool = False


class RewardRequest(_Body):
    value: float = Field(ge=-1.0, le=1.0, allow_inf_nan=False)


class SlotReward(_Body):
    slotId: str = _ID
    value: float = Field(ge=-1.0, le=1.0, allow_inf_nan=False)


class MultiSlotRewardRequest(_Body):
    reward: list[SlotReward] = Field(min_length=1, max_length=50)


class PolicyContract(_Body):
    name: str = Field(min_length=1, max_length=256)
    arguments: str = Field(max_length=1024)


class EvaluationRequest(_Body):
    name: str = Field(min_length=1, max_length=256)
    startTime: dt.datetime
    endTime: dt.datetime
    enablePolicyOptimization: bool = False
    policies: list[PolicyContract] = Field(default_factory=list, max_length=20)


class ApplyFromEvaluation(_Body):
    evaluationId: str = _ID
    policyName: str = Field(min_length=1, max_length=256)


# ---------------------------------------------------------------- the rank route's quick parser
# pydantic builds an object per action and its model_dump copies them all again (the
# request's digest): ~45 us of a 20-action rank. The usual request is parsed here with
# orjson instead; anything unusual or wrong returns None and goes to RankRequest, which
# then accepts it or names the problem. So this accepts nothing RankRequest rejects, and
# what it accepts it reads as RankRequest does (orjson and pydantic read JSON numbers and
# strings alike: tests/serve/test_personalizer_parse.py).

@dataclass(slots=True)
class RankInput:
    """A valid ``rank`` request in the form the loop uses."""

    ids: list[str]
    features: list[list[dict[str, Any]]]    # per action, its feature dicts
    context: list[dict[str, Any]] | None
    excluded: list[str] | None
    event_id: str | None
    defer: bool
    body: dict[str, Any]                      # what RankRequest.model_dump() gives: the request's digest

    @classmethod
    def from_model(cls, req: RankRequest) -> "RankInput":
        return cls([a.id for a in req.actions], [a.features for a in req.actions], req.contextFeatures,
                   req.excludedActions, req.eventId, req.deferActivation, req.model_dump())


_RANK_KEYS = frozenset(RankRequest.model_fields)
_ACTION_KEYS = frozenset(RankableAction.model_fields)
_EVENT_ID = re.compile(EVENT_ID)
_NESTING = 190    # pydantic's JSON parser refuses nesting deeper than ~200 levels: leave deep bodies to it
# integers past 64 bits (and some below): orjson reads them as floats, pydantic as ints
_LONG_INT = re.compile(rb"(?<![\d.])\d{19,}(?![\d.eE])")
_DIGITS = bytes(48 if 48 <= c <= 57 else 120 for c in range(256))  # digits to "0", all else to "x"


def _dicts(v: Any, most: int) -> bool:
    return type(v) is list and len(v) <= most and all(type(g) is dict for g in v)


def _deeper_than(obj: Any, limit: int) -> bool:
    stack = [(obj, 1)]
    while stack:
        v, depth = stack.pop()
        if depth > limit:
            return True
        if type(v) is dict:
            stack.extend((x, depth + 1) for x in v.values())
        elif type(v) is list:
            stack.extend((x, depth + 1) for x in v)
    return False


def fast_rank(raw: bytes) -> RankInput | None:
    """``raw`` parsed as a RankRequest, or None: "let RankRequest decide"."""
    if b"0" * 19 in raw.translate(_DIGITS) and _LONG_INT.search(raw):  # the regex is slow: only if need be
        return None
    d = json_object(raw, _RANK_KEYS)
    if d is None:
        return None
    if raw.count(b"[") + raw.count(b"{") >= _NESTING and _deeper_than(d, _NESTING):
        return None
    actions = d.get("actions")
    if type(actions) is not list or not 1 <= len(actions) <= 1000:
        return None
    ids, features = [], []
    for a in actions:
        if type(a) is not dict or not a.keys() <= _ACTION_KEYS:
            return None
        i, f = a.get("id"), a.get("features", [])
        if type(i) is not str or not 1 <= len(i) <= 256 or not _dicts(f, 64):
            return None
        ids.append(i)
        features.append(f)
    ctx, excluded, eid = d.get("contextFeatures"), d.get("excludedActions"), d.get("eventId")
    defer = d.get("deferActivation", False)
    if ctx is not None and not _dicts(ctx, 64):
        return None
    if excluded is not None and (type(excluded) is not list or len(excluded) > 1000
                                 or any(type(e) is not str for e in excluded)):
        return None
    if (eid is not None and (type(eid) is not str or not _EVENT_ID.fullmatch(eid))) or type(defer) is not bool:
        return None
    body = {"actions": [{"id": i, "features": f} for i, f in zip(ids, features)], "contextFeatures": ctx,
            "excludedActions": excluded, "eventId": eid, "deferActivation": defer}
    return RankInput(ids, features, ctx, excluded, eid, defer, body)


def merge_features(groups: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Personalizer's list of feature dicts as one namespaced dict. A top-level key that
    appears again in a later dict is kept apart (``key#2``), never overwritten."""
    out: dict[str, Any] = {}
    for group in groups or ():
        for key, value in group.items():
            name, n = key, 1
            while name in out:
                n += 1
                name = f"{key}#{n}"
            out[name] = value
    return out


# ---------------------------------------------------------------- durations
_ISO = re.compile(r"^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$")
_SPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)$")


def parse_duration(text: Any, name: str) -> float:
    """Seconds from ISO 8601 (``PT10M``, ``P1DT2H``) or .NET TimeSpan (``00:10:00``, ``1.02:00:00``)."""
    if isinstance(text, str):
        m = _ISO.match(text)
        if m and any(m.groups()):
            d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
            return d * 86400 + h * 3600 + mi * 60 + s
        m = _SPAN.match(text)
        if m:
            days, hours, minutes, seconds = m.groups()
            return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    raise ValueError(f"{name}: {text!r} is not a duration (ISO 8601 like 'PT10M', or 'hh:mm:ss')")


def format_duration(seconds: float) -> str:
    whole = int(seconds)
    frac = seconds - whole
    d, rest = divmod(whole, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    out = "P" + (f"{d}D" if d else "")
    time_part = (f"{h}H" if h else "") + (f"{m}M" if m else "") + (f"{s + frac:g}S" if s or frac else "")
    return out + ("T" + time_part if time_part else ("" if d else "T0S"))


def iso_time(t: float | None) -> str | None:
    return None if t is None else dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def parse_time(text: Any, name: str) -> float:
    if isinstance(text, dt.datetime):
        value = text
    else:
        try:
            value = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{name}: {text!r} is not an ISO 8601 date-time") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.timestamp()


# ---------------------------------------------------------------- the service configuration
MODES = ("Online", "Apprentice", "LoggingOnly")
AGGREGATIONS = ("earliest", "sum")


@dataclass
class ServiceSettings:
    """Personalizer's service configuration, in seconds; ``to_json`` speaks its names."""

    reward_wait_s: float = 600.0
    default_reward: float = 0.0
    reward_aggregation: str = "earliest"
    exploration_percentage: float = 20.0
    model_export_s: float = 300.0
    log_retention_days: int = -1
    model_retrain_days: int = 4
    learning_mode: str = "Online"
    auto_optimization: bool = False
    auto_optimization_s: float = 7 * 86400.0
    auto_optimization_start: float | None = None
    last_edit: float | None = None
    log_mirror_enabled: bool = False
    log_mirror_uri: str | None = None

    _NAMES = {"rewardWaitTime": "reward_wait_s", "defaultReward": "default_reward",
              "rewardAggregation": "reward_aggregation", "explorationPercentage": "exploration_percentage",
              "modelExportFrequency": "model_export_s", "logRetentionDays": "log_retention_days",
              "modelRetrainDays": "model_retrain_days", "learningMode": "learning_mode",
              "isAutoOptimizationEnabled": "auto_optimization", "autoOptimizationFrequency": "auto_optimization_s",
              "autoOptimizationStartDate": "auto_optimization_start", "logMirrorEnabled": "log_mirror_enabled",
              "logMirrorSasUri": "log_mirror_uri"}
    _READ_ONLY = ("lastConfigurationEditDate", "latestApprenticeModeMetrics")

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ServiceSettings":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def to_json(self) -> dict[str, Any]:
        return {"rewardWaitTime": format_duration(self.reward_wait_s), "defaultReward": self.default_reward,
                "rewardAggregation": self.reward_aggregation, "explorationPercentage": self.exploration_percentage,
                "modelExportFrequency": format_duration(self.model_export_s),
                "logRetentionDays": self.log_retention_days, "modelRetrainDays": self.model_retrain_days,
                "learningMode": self.learning_mode, "isAutoOptimizationEnabled": self.auto_optimization,
                "autoOptimizationFrequency": format_duration(self.auto_optimization_s),
                "autoOptimizationStartDate": iso_time(self.auto_optimization_start),
                "lastConfigurationEditDate": iso_time(self.last_edit),
                "logMirrorEnabled": self.log_mirror_enabled, "logMirrorSasUri": self.log_mirror_uri}

    def updated(self, body: Any) -> "ServiceSettings":
        """These settings with the fields of a PUT body; ValueError names the first bad one.
        Fields left out keep their value; read-only fields (as GET returns them) are ignored."""
        if not isinstance(body, dict):
            raise ValueError("the service configuration must be a JSON object")
        new = ServiceSettings(**asdict(self))
        for key, value in body.items():
            if key in self._READ_ONLY:
                continue
            if key not in self._NAMES:
                raise ValueError(f"unknown service configuration field {key!r}")
            setattr(new, self._NAMES[key], _check(key, value))
        return new


def _check(key: str, v: Any) -> Any:
    number = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if key == "rewardWaitTime":
        s = parse_duration(v, key)
        if not 1 <= s <= 2 * 86400:
            raise ValueError(f"{key} must lie between 1 second and 2 days, got {v!r}")
        return s
    if key in ("modelExportFrequency", "autoOptimizationFrequency"):
        s = parse_duration(v, key)
        if s < 1:
            raise ValueError(f"{key} must be at least 1 second, got {v!r}")
        return s
    if key == "defaultReward":
        if not number or not -1 <= v <= 1:
            raise ValueError(f"{key} must be a number between -1 and 1, got {v!r}")
        return float(v)
    if key == "explorationPercentage":
        if not number or not 0 <= v <= 100:
            raise ValueError(f"{key} must be a number between 0 and 100, got {v!r}")
        return float(v)
    if key == "rewardAggregation":
        if not isinstance(v, str) or v.lower() not in AGGREGATIONS:
            raise ValueError(f"{key} must be one of {AGGREGATIONS}, got {v!r}")
        return v.lower()
    if key == "learningMode":
        match = [m for m in MODES if isinstance(v, str) and m.lower() == v.lower()]
        if not match:
            raise ValueError(f"{key} must be one of {MODES}, got {v!r}")
        return match[0]
    if key in ("logRetentionDays", "modelRetrainDays"):
        if not number or int(v) != v or (v < 1 and not (key == "logRetentionDays" and v == -1)) or v > 3650:
            raise ValueError(f"{key} must be a whole number of days (logRetentionDays: -1 keeps logs forever), "
                             f"got {v!r}")
        return int(v)
    if key in ("isAutoOptimizationEnabled", "logMirrorEnabled"):
        if not isinstance(v, bool):
            raise ValueError(f"{key} must be true or false, got {v!r}")
        return v
    if key == "autoOptimizationStartDate":
        return None if v is None else parse_time(v, key)
    if key == "logMirrorSasUri":
        if v is not None and not isinstance(v, str):
            raise ValueError(f"{key} must be a string")
        return v
    raise ValueError(f"unknown service configuration field {key!r}")  # pragma: no cover - _NAMES guards
