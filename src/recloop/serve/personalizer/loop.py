"""The Personalizer loop: rank, reward, activate, learn - on recloop's store, writer and learner.

A second instance of the service's machinery (:class:`PersonalizerStore` beside the
main store, a :class:`~recloop.serve.writer.GroupWriter`, a
:class:`~recloop.serve.learner.ModelLearner` serving a :class:`LinearCB`), so every
guarantee of ``/v1`` holds here: a decision is stored with its propensity before
the answer, a reward is joined exactly once under an increasing ``seq``, the model
is snapshot + replay and so learns every joined reward exactly once across crashes.

What Personalizer adds, and where:

- learning modes: Online (epsilon-greedy, ``explorationPercentage``), Apprentice
  (``rewardActionId`` is the baseline, the model learns its reward and imitates it),
  LoggingOnly (decisions logged with their real propensities, nothing learned);
- reward window: rewards are joined at once (``earliest``) or summed until
  ``rewardWaitTime`` ends (``sum``); an event with none gets ``defaultReward``;
- deferred activation: a ``deferActivation`` event is neither learned nor given the
  default reward unless activated within the window; rewards sent before activation
  are held and joined when it comes;
- roles: the service's ``--role`` (all, or rankers and one learner on PostgreSQL):
  start, stop and background work per role are :mod:`.tasks`, the rankers' writes
  and the learner's inbox :mod:`.scaleout`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from recloop.serve.config import ServeConfig
from recloop.serve.learner import ModelLearner, policy_bytes
from recloop.serve.personalizer.model import DEFAULTS, LinearCB, draw, epsilon_greedy
from recloop.serve.personalizer.schemas import MultiSlotRankRequest, RankInput, ServiceSettings, merge_features
from recloop.serve.personalizer.store import PersonalizerStore, RankEvent, SlotDecision, decision_id
from recloop.serve.personalizer.tasks import Tasks
from recloop.serve.records import Decision, Joined, RewardIn
from recloop.serve.schemas import request_digest
from recloop.serve.store import CONFLICT, SAME, UNKNOWN
from recloop.serve.writer import GroupWriter, StoreUnavailable

log = logging.getLogger("recloop.serve.personalizer")


class Refused(Exception):
    """A request Personalizer would refuse: ``status``, its error ``code`` and a message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class PersonalizerLearner(ModelLearner[LinearCB]):
    """The learner serving a LinearCB with the loop's learning settings."""

    def __init__(self, config: ServeConfig, store: PersonalizerStore):
        self.params: dict[str, Any] = {}
        super().__init__(config, store)

    def new_policy(self) -> LinearCB:
        return LinearCB(**{**DEFAULTS, **self.params})

    def load_policy(self, blob: bytes) -> LinearCB:
        return model_from_bytes(blob)


def model_from_bytes(blob: bytes) -> LinearCB:
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.npz"
        path.write_bytes(blob)
        return LinearCB.load(path)


def sibling(config: ServeConfig) -> tuple[str, str | None]:
    """Where the Personalizer loop keeps its tables (and model snapshots), beside the main store."""
    if config.db.startswith("sqlite"):
        if config.db.endswith(":memory:"):
            return config.db, None
        return config.db + ".personalizer", None
    return config.db, f"{config.db_schema or 'recloop'}_personalizer"


def evaluation_dir(config: ServeConfig) -> Path:
    """Where evaluations keep the models they trained (for applyFromEvaluation): beside a
    SQLite store, else under ``snapshot_dir``, else a temporary folder (lost on restart)."""
    if config.db.startswith("sqlite:///") and not config.db.endswith(":memory:"):
        return Path(config.db[len("sqlite:///"):] + ".personalizer-evaluations")
    if config.snapshot_dir:
        return Path(config.snapshot_dir) / "personalizer-evaluations"
    import tempfile
    return Path(tempfile.gettempdir()) / f"recloop-personalizer-evaluations-{config.db_schema or 'recloop'}"


class PersonalizerLoop:
    """Everything the ``/personalizer`` routes use; started and stopped with the service.

    Its role is the service's: ``all`` ranks, logs and learns; rankers rank and log
    (rank, reward, activate) and the learner learns what they logged and runs the
    administration operations (see :mod:`~recloop.serve.personalizer.tasks`)."""

    def __init__(self, config: ServeConfig):
        self.config = config
        self.role = config.role
        url, schema = sibling(config)
        self.store = PersonalizerStore(url, schema=schema, synchronous=config.sqlite_synchronous)
        self.evaluation_dir = evaluation_dir(config)
        # start_version names a /v1 snapshot: this loop serves its newest
        inner = dataclasses.replace(config, db=url, db_schema=schema, policy="random", policy_params={},
                                    start_version=None)
        self.learner = PersonalizerLearner(inner, self.store)
        self.settings = ServiceSettings(reward_wait_s=config.reward_wait_s,
                                        default_reward=0.0 if config.default_reward is None else config.default_reward)
        self.policy_name = "recloop default"
        self.writer: GroupWriter[RankEvent] | None = None
        self.gate = asyncio.Lock()       # held while the live model is replaced or its settings change
        self._snap_lock = asyncio.Lock()
        self.wake = asyncio.Event()
        self._swept_seq = 0
        # role all: deferred events not yet activated, within their window (a ranker asks the store)
        self.held: set[str] = set()
        self.evaluation_tasks: dict[str, asyncio.Task] = {}
        # Role all: features computed at rank time, kept until the reward comes, so learning
        # need not featurise the request again (the costliest step of both). Bounded; a miss
        # recomputes. (A ranker's rewards are learned by another process: it keeps none.)
        self._rows: dict[str, tuple] = {}
        self.model_created = time.time()
        self.model_modified = time.time()
        self.tasks = Tasks(self)
        self.hot_route: Any = None  # set by install(): rank and reward without FastAPI's routing

    async def start(self) -> None:
        await self.tasks.start()

    async def stop(self) -> None:
        await self.tasks.stop()

    # ------------------------------------------------------------ roles
    def serves_events(self) -> GroupWriter[RankEvent]:
        """The writer for rank, reward and activate; 421 on the learner, which has none."""
        if self.writer is None:
            raise Refused(421, "MisdirectedRequest", "this service is the learner: send rank, reward and "
                                                     "activate requests to a ranker")
        return self.writer

    def manages(self) -> None:
        """Administration (configuration, model, logs, evaluations) runs where the model learns."""
        if self.role == "ranker":
            raise Refused(421, "MisdirectedRequest", "this service is a ranker: send administration requests "
                                                     "(PersonalizerAdministrationClient) to the learner")

    def on_joined(self, joined: list[Joined]) -> None:
        rows = self._rows
        if rows:
            joined = [Joined(j.seq, dataclasses.replace(j.feedback, rows=rows.pop(j.feedback.decision_id, None)),
                             j.received, j.is_default) for j in joined]
        self.learner.enqueue(joined)
        self.wake.set()

    async def close_windows(self) -> None:
        """Join every decision whose reward window has closed: the held rewards
        (earliest or sum), else the default reward; deferred events never activated get
        nothing and are never learned. The learner of rankers joins through their inbox."""
        s = self.settings
        cutoff = time.time() - s.reward_wait_s
        via_inbox = self.writer is None
        while True:
            rows, last = await asyncio.to_thread(self.store.expired, cutoff, self._swept_seq, 5000, via_inbox)
            held = await asyncio.to_thread(self.store.held_rewards, [r["decision_id"] for r in rows])
            joins = []
            for r in rows:
                if r["deferred"] and r["activated"] is None:
                    continue
                values = held.get(r["decision_id"])
                if values:
                    value = sum(values) if s.reward_aggregation == "sum" else values[0]
                    joins.append(RewardIn(r["decision_id"], float(value)))
                else:
                    joins.append(RewardIn(r["decision_id"], float(s.default_reward), is_default=True))
            if self.writer is None:
                from recloop.serve.inbox import rewards_into_inbox
                await asyncio.to_thread(rewards_into_inbox, self.store, joins)
            else:
                writer = self.writer
                await asyncio.gather(*(writer.reward(j) for j in joins))
            done = last == self._swept_seq
            self._swept_seq = last
            if done:
                return

    # ------------------------------------------------------------ ranking
    def _slot(self, eid: str, slot_id: str | None, ctx: dict, feats: dict[str, Any], eligible: list[str],
              baseline: str, mode: str, epsilon: float, model: LinearCB) -> SlotDecision:
        try:
            X = model.features(ctx, [feats[i] for i in eligible], _keys(feats, eligible))
        except ValueError as err:
            raise Refused(400, "BadArgument", f"features: {err}") from None
        scores = model.scores(X)
        probs = epsilon_greedy(scores, epsilon)
        top = np.flatnonzero(scores >= scores.max())
        model_choice = eligible[int(top[0])] if len(top) == 1 else ""  # a tie is no choice (Apprentice metrics)
        if mode == "Apprentice" and baseline in eligible:
            c = eligible.index(baseline)
            probs = np.zeros(len(eligible))
            probs[c] = 1.0
        else:
            c = draw(probs, eid if slot_id is None else f"{eid}#{slot_id}")
        if mode != "LoggingOnly" and self.role == "all":
            if len(self._rows) >= 50_000:
                for k in list(self._rows)[:5_000]:  # the oldest: their rewards may never come
                    del self._rows[k]
            self._rows[decision_id(eid, slot_id)] = (model.key, model.rows(X, None if mode == "Apprentice" else [c]))
        ranked = np.argsort(-scores, kind="stable")
        order = np.concatenate(([c], ranked[ranked != c]))
        d = Decision(event_id=decision_id(eid, slot_id), context=[], candidates=[(i, None) for i in eligible],
                     items=[eligible[j] for j in order.tolist()], scores=scores[order].tolist(),
                     propensities=probs[order].tolist(), model_version=self.learner.version_name,
                     request_hash="pz")
        return SlotDecision(slot_id or "", baseline, model_choice, d)

    async def rank(self, req: RankInput) -> dict:
        self.serves_events()
        ids = req.ids
        _unique(ids, "action id")
        excluded = set(req.excluded or ())
        if excluded - set(ids):
            raise Refused(400, "BadArgument", f"excluded action {sorted(excluded - set(ids))[0]!r} is not an action")
        eligible = [i for i in ids if i not in excluded]
        if not eligible:
            raise Refused(400, "BadArgument", "every action is excluded")
        eid = req.event_id or uuid.uuid4().hex
        ctx = merge_features(req.context)
        feats = {i: merge_features(f) for i, f in zip(ids, req.features)}
        mode, eps = self.settings.learning_mode, self.settings.exploration_percentage / 100
        slot = self._slot(eid, None, ctx, feats, eligible, eligible[0], mode, eps, self.learner.policy)
        request = {"context": ctx, "actions": {i: feats[i] for i in eligible},
                   "slots": [{"id": "", "features": None, "eligible": eligible}]}
        stored = await self._store(eid, False, request, req.body, mode, req.defer, [slot])
        d = stored[0]
        ranking = [{"id": i, "probability": p} for i, p in zip(d.items, d.propensities)]
        ranking += [{"id": i, "probability": 0.0} for i in ids if i in excluded]
        return {"eventId": eid, "ranking": ranking, "rewardActionId": d.items[0]}

    async def rank_multi_slot(self, req: MultiSlotRankRequest) -> dict:
        self.serves_events()
        ids = [a.id for a in req.actions]
        _unique(ids, "action id")
        _unique([s.id for s in req.slots], "slot id")
        _unique([s.baselineAction for s in req.slots], "baselineAction")
        eid = req.eventId or uuid.uuid4().hex
        ctx = merge_features(req.contextFeatures)
        feats = {a.id: merge_features(a.features) for a in req.actions}
        mode, eps = self.settings.learning_mode, self.settings.exploration_percentage / 100
        taken: set[str] = set()
        decided: list[SlotDecision] = []
        slot_info: list[dict] = []
        for s in req.slots:
            excluded = set(s.excludedActions or ())
            if s.baselineAction not in feats:
                raise Refused(400, "BadArgument", f"slot {s.id!r}: baselineAction {s.baselineAction!r} is not an action")
            if s.baselineAction in excluded:
                raise Refused(400, "BadArgument", f"slot {s.id!r}: its baselineAction is excluded")
            eligible = [i for i in ids if i not in excluded and i not in taken]
            if not eligible:
                raise Refused(400, "BadArgument", f"slot {s.id!r}: no action left to choose")
            slot_feats = merge_features(s.features)
            slot_ctx = {**ctx, "_slot": slot_feats} if slot_feats else ctx
            sd = self._slot(eid, s.id, slot_ctx, feats, eligible, s.baselineAction, mode, eps, self.learner.policy)
            taken.add(sd.decision.items[0])
            decided.append(sd)
            slot_info.append({"id": s.id, "features": slot_feats or None, "eligible": eligible})
        request = {"context": ctx, "actions": feats, "slots": slot_info}
        stored = await self._store(eid, True, request, req.model_dump(), mode, req.deferActivation, decided)
        return {"eventId": eid, "slots": [{"id": s.id, "rewardActionId": d.items[0]}
                                          for s, d in zip(req.slots, stored)]}

    async def _store(self, eid: str, multislot: bool, request: dict, body: dict, mode: str, deferred: bool,
                     decided: list[SlotDecision]) -> list[Decision]:
        digest = request_digest(orjson.dumps(body, option=orjson.OPT_SORT_KEYS))
        event = RankEvent(eid, multislot, orjson.dumps(request), digest, mode, deferred, decided)
        code, _ = await _written(self.serves_events().decision(event))
        if code == CONFLICT:
            raise Refused(409, "Conflict", f"event {eid!r} already exists with a different request")
        if code == SAME:  # a retry: answer with what was stored
            for s in decided:
                self._rows.pop(s.decision.event_id, None)
            stored = await asyncio.to_thread(self._stored_decisions, eid, multislot)
            if stored is None:
                raise Refused(409, "Conflict", f"event {eid!r} already exists as another kind of rank")
            return stored
        if deferred and self.role == "all":
            self.held.add(eid)
        return [s.decision for s in decided]

    def _stored_decisions(self, eid: str, multislot: bool) -> list[Decision] | None:
        ev = self.store.event(eid)
        if ev is None or bool(ev["multislot"]) != multislot:
            return None
        stored = [self.store.decision(s["decision_id"]) for s in ev["slots"]]
        return [d for d in stored if d is not None]  # stored with their event, in one transaction

    # ------------------------------------------------------------ rewards and activation
    async def reward(self, eid: str, slot_id: str | None, value: float) -> None:
        writer = self.serves_events()
        did = decision_id(eid, slot_id)
        # earliest: join at once unless the event waits for activation. Role all knows its
        # deferred events (self.held); a ranker lets the store decide, in the reward's own
        # transaction (scaleout._held_now), as another ranker may have ranked or activated it
        if self.settings.reward_aggregation == "earliest" and (self.role == "ranker" or eid not in self.held):
            code, _ = await _written(writer.reward(RewardIn(did, float(value), received=time.perf_counter())))
            if code == UNKNOWN:
                raise Refused(404, "ResourceNotFound", _unknown(eid, slot_id))
            return  # STORED or SAME; CONFLICT: an earlier reward (or the window's default) stands, as in Personalizer
        ev = await asyncio.to_thread(self.store.event, eid)
        if ev is None or bool(ev["multislot"]) != (slot_id is not None) or did not in {
                s["decision_id"] for s in ev["slots"]}:
            raise Refused(404, "ResourceNotFound", _unknown(eid, slot_id))
        if self.settings.reward_aggregation == "earliest" and (not ev["deferred"] or ev["activated"] is not None):
            self.held.discard(eid)
            await _written(writer.reward(RewardIn(did, float(value), received=time.perf_counter())))
            return
        await asyncio.to_thread(self.store.hold_reward, did, float(value), time.time())

    async def activate(self, eid: str, multislot: bool) -> None:
        writer = self.serves_events()
        ev = await asyncio.to_thread(self.store.event, eid)
        if ev is None or bool(ev["multislot"]) != multislot:
            raise Refused(404, "ResourceNotFound", f"unknown event {eid!r}")
        now = time.time()
        if not ev["deferred"] or ev["activated"] is not None or now > ev["ts"] + self.settings.reward_wait_s:
            self.held.discard(eid)
            return  # nothing to do: never deferred, already active, or its window closed unactivated
        held = await asyncio.to_thread(self.store.activate, eid, now)
        self.held.discard(eid)
        if self.settings.reward_aggregation == "earliest":
            await asyncio.gather(*(_written(writer.reward(RewardIn(did, values[0])))
                                   for did, values in held.items()))

    # ------------------------------------------------------------ the model
    async def snapshot(self, note: str) -> dict:
        async with self._snap_lock:
            policy, watermark = self.learner.freeze()
            row = await asyncio.to_thread(self.learner.write_snapshot, policy, watermark,
                                          parent=self.learner.version, note=note)
            self.learner.adopt_snapshot(row, watermark)
            return row

    async def install(self, model: LinearCB, note: str) -> None:
        """Serve ``model`` from now on (reset, import, new settings); learning continues from it."""
        async with self._snap_lock:
            async with self.gate:
                row = await asyncio.to_thread(self.learner.write_snapshot, model, self.learner.watermark,
                                              parent=self.learner.version, note=note)
                import copy
                self.learner.install(copy.deepcopy(model), row["version"])
                self.learner.params = model.get_params()
        now = time.time()
        self.model_modified = now
        if note.split(" ")[0] in ("reset", "imported", "applied"):
            self.model_created = now

    async def export_model(self) -> bytes:
        policy, _ = self.learner.freeze()
        return await asyncio.to_thread(policy_bytes, policy)

    async def import_model(self, data: bytes) -> None:
        try:
            model = await asyncio.to_thread(model_from_bytes, data)
        except (ValueError, KeyError, TypeError, OSError) as err:
            raise Refused(400, "BadArgument", f"not a model exported by this service: {err}") from None
        await self.install(model, "imported")
        await self.save_policy(self.policy_name, model.get_params())

    async def save_policy(self, name: str, params: dict) -> None:
        self.policy_name = name
        await asyncio.to_thread(self.store.put_setting, "policy", {"name": name, "params": params})

    async def set_policy(self, name: str, params: dict, note: str = "policy updated") -> None:
        await self.install(self.learner.policy.with_params(params), note)
        await self.save_policy(name, params)

    async def set_settings(self, new: ServiceSettings) -> None:
        new.last_edit = time.time()
        await asyncio.to_thread(self.store.put_setting, "service", new.as_dict())
        self.settings = new

    async def delete_logs(self, before: float | None = None) -> None:
        if self.learner.watermark > self.learner.snap_watermark:
            await self.snapshot("before deleting logs")  # a restart must not need the deleted rewards
        await asyncio.to_thread(self.store.delete_logs, before)
        self._swept_seq = 0

    def apprentice_metrics(self, counts: dict) -> dict | None:
        rows = counts["rows"]
        if not rows:
            return None
        from recloop.serve.personalizer.schemas import iso_time

        def part(rs: list) -> dict:
            return {"numberOfEvents": len(rs), "numberOfImitatedEvents": sum(1 for r in rs if r[0]),
                    "sumOfRewards": float(sum(r[1] for r in rs)),
                    "sumOfImitatedRewards": float(sum(r[1] for r in rs if r[0]))}
        return {"startTime": iso_time(min(r[2] for r in rows)), "lastProcessedEventTime": iso_time(max(r[3] for r in rows)),
                **part(rows), "lastBatchMetrics": part(rows[-counts["last"]:])}


async def _written(write: Any) -> Any:
    try:
        return await write
    except StoreUnavailable as err:
        raise Refused(503, "ServiceUnavailable", f"store unavailable ({err}); nothing was stored, retry") from None


def _keys(feats: dict[str, Any], ids: list[str]) -> list[bytes | None]:
    """Each action's features as JSON text: the featuriser's key for features it has seen
    (from a JSON body, so equal text means equal features; None where orjson cannot write them)."""
    out: list[bytes | None] = []
    for i in ids:
        try:
            out.append(orjson.dumps(feats[i]))
        except orjson.JSONEncodeError:  # an integer past 64 bits
            out.append(None)
    return out


def _unique(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise Refused(400, "BadArgument", f"duplicate {what} {i!r}")
        seen.add(i)


def _unknown(eid: str, slot_id: str | None) -> str:
    return f"unknown event {eid!r}" + ("" if slot_id is None else f" or slot {slot_id!r}")
