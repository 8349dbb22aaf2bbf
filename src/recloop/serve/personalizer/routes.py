"""The ``/personalizer`` routes: what ``azure-ai-personalizer`` 1.0.0b1 calls, answered as it expects.

Paths, methods and status codes are those of the client (api-version
``2022-09-01-preview``; other versions are answered the same way). The key comes in
``Ocp-Apim-Subscription-Key``; errors come back in Azure's shape
``{"error": {"code", "message"}}``, which the client raises as ``HttpResponseError``
with that code and message. Feature importances answer 501 NotImplemented.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError

from recloop.serve.guard import KeyCheck
from recloop.serve.personalizer import evaluations
from recloop.serve.personalizer.loop import PersonalizerLoop, Refused
from recloop.serve.personalizer.model import DEFAULTS, DEFAULT_POLICY_NAME, format_arguments, parse_arguments
from recloop.serve.personalizer.schemas import (ApplyFromEvaluation, EvaluationRequest, MultiSlotRankRequest,
                                                MultiSlotRewardRequest, PolicyContract, RankInput, RankRequest,
                                                RewardRequest, fast_rank, iso_time, parse_time)
from recloop.serve.writer import StoreUnavailable

log = logging.getLogger("recloop.serve.personalizer")
KEY_HEADER = "ocp-apim-subscription-key"
FEATURE_IMPORTANCE_501 = ("feature importances are not implemented by recloop; see docs/personalizer.md "
                          "('What differs') for how to read the model's weights per namespace instead")


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def build_router(pz: PersonalizerLoop, keys: KeyCheck) -> APIRouter:
    def key_check(admin: bool) -> Any:
        async def check(request: Request) -> None:
            try:
                keys.check(request.headers.get(KEY_HEADER), admin=admin)
            except HTTPException as err:
                msg = str(err.detail).replace("X-API-Key", "Ocp-Apim-Subscription-Key")
                raise Refused(err.status_code, "PermissionDenied" if err.status_code == 403 else "Unauthorized",
                              msg) from None
            if admin:  # then the role: administration on the learner, rank/reward/activate on rankers
                pz.manages()
            else:
                pz.serves_events()
        return Depends(check)

    user = APIRouter(prefix="/personalizer", dependencies=[key_check(False)], tags=["personalizer"])
    admin = APIRouter(prefix="/personalizer", dependencies=[key_check(True)], tags=["personalizer admin"])

    # ------------------------------------------------------------ rank, reward, activate
    @user.post("/rank", status_code=201)
    async def rank(request: Request) -> JSONResponse:
        return JSONResponse(await pz.rank(_parse_rank(await request.body())), status_code=201)

    @user.post("/events/{event_id}/reward", status_code=204)
    async def reward(event_id: str, request: Request) -> Response:
        await pz.reward(event_id, None, (await _body(request, RewardRequest)).value)
        return Response(status_code=204)

    @user.post("/events/{event_id}/activate", status_code=204)
    async def activate(event_id: str) -> Response:
        await pz.activate(event_id, multislot=False)
        return Response(status_code=204)

    @user.post("/multislot/rank", status_code=201)
    async def rank_multi_slot(request: Request) -> JSONResponse:
        return JSONResponse(await pz.rank_multi_slot(await _body(request, MultiSlotRankRequest)), status_code=201)

    @user.post("/multislot/events/{event_id}/reward", status_code=204)
    async def reward_multi_slot(event_id: str, request: Request) -> Response:
        body = await _body(request, MultiSlotRewardRequest)
        for r in body.reward:
            await pz.reward(event_id, r.slotId, r.value)
        return Response(status_code=204)

    @user.post("/multislot/events/{event_id}/activate", status_code=204)
    async def activate_multi_slot(event_id: str) -> Response:
        await pz.activate(event_id, multislot=True)
        return Response(status_code=204)

    # ------------------------------------------------------------ configuration
    @admin.get("/configurations/service")
    async def get_service_configuration() -> dict:
        out = pz.settings.to_json()
        counts = await asyncio.to_thread(pz.store.apprentice_counts)
        out["latestApprenticeModeMetrics"] = pz.apprentice_metrics(counts)
        return out

    @admin.put("/configurations/service")
    async def update_service_configuration(request: Request) -> dict:
        try:
            new = pz.settings.updated(_json(await request.body()))
        except ValueError as err:
            raise Refused(400, "BadArgument", str(err)) from None
        await pz.set_settings(new)
        return await get_service_configuration()

    def policy_json() -> dict:
        return {"name": pz.policy_name, "arguments": format_arguments(pz.learner.params)}

    @admin.get("/configurations/policy")
    async def get_policy() -> dict:
        return policy_json()

    @admin.put("/configurations/policy")
    async def update_policy(request: Request) -> dict:
        body = await _body(request, PolicyContract)
        await pz.set_policy(body.name, {**DEFAULTS, **_arguments(body.arguments)})
        return policy_json()

    @admin.delete("/configurations/policy")
    async def reset_policy() -> dict:
        await pz.set_policy(DEFAULT_POLICY_NAME, dict(DEFAULTS), note="reset policy")
        return policy_json()

    @admin.post("/configurations/applyFromEvaluation", status_code=204)
    async def apply_from_evaluation(request: Request) -> Response:
        body = await _body(request, ApplyFromEvaluation)
        ev = await asyncio.to_thread(pz.store.get_evaluation, body.evaluationId)
        if ev is None:
            raise Refused(404, "ResourceNotFound", f"no evaluation {body.evaluationId!r}")
        if ev["result"] is None:
            raise Refused(409, "Conflict", f"evaluation {body.evaluationId!r} is {ev['status']}, not finished")
        match = [v for v in ev["result"]["content"]["value"] if v["name"] == body.policyName and "model" in v]
        if not match:
            names = [v["name"] for v in ev["result"]["content"]["value"] if "model" in v]
            raise Refused(404, "ResourceNotFound", f"evaluation has no learning settings {body.policyName!r}; "
                                                   f"it has {names}")
        from recloop.serve.personalizer.model import LinearCB
        try:
            model = await asyncio.to_thread(LinearCB.load, match[0]["model"])
        except (OSError, ValueError) as err:
            raise Refused(409, "Conflict", f"the evaluation's model is gone: {err}") from None
        await pz.install(model, f"applied from evaluation {body.evaluationId}")
        await pz.save_policy(body.policyName, model.get_params())
        status = "OptimalPolicyApplied" if body.policyName == ev["result"].get("optimalPolicy") else ev["status"]
        await asyncio.to_thread(pz.store.put_evaluation, body.evaluationId, status, ev["spec"], ev["result"])
        return Response(status_code=204)

    # ------------------------------------------------------------ model and logs
    @admin.get("/model")
    async def export_model(signed: bool = False) -> Response:
        return Response(await pz.export_model(), media_type="application/octet-stream")

    @admin.put("/model", status_code=204)
    async def import_model(request: Request) -> Response:
        await pz.import_model(await request.body())
        return Response(status_code=204)

    @admin.delete("/model", status_code=204)
    async def reset_model() -> Response:
        await pz.install(pz.learner.new_policy(), "reset")
        return Response(status_code=204)

    @admin.get("/model/properties")
    async def get_model_properties() -> dict:
        return {"creationTime": iso_time(pz.model_created), "lastModifiedTime": iso_time(pz.model_modified)}

    @admin.delete("/logs", status_code=204)
    async def delete_logs() -> Response:
        await pz.delete_logs()
        return Response(status_code=204)

    @admin.get("/logs/properties")
    async def get_log_properties() -> dict:
        start, end = await asyncio.to_thread(pz.store.log_range)
        return {"dateRange": {"from": iso_time(start), "to": iso_time(end)}}

    # ------------------------------------------------------------ evaluations
    @admin.put("/evaluations/{evaluation_id}")
    async def create_evaluation(evaluation_id: str, request: Request) -> dict:
        body = await _body(request, EvaluationRequest)
        start, end = parse_time(body.startTime, "startTime"), parse_time(body.endTime, "endTime")
        if end <= start:
            raise Refused(400, "BadArgument", "endTime must be after startTime")
        if await asyncio.to_thread(pz.store.get_evaluation, evaluation_id) is not None:
            raise Refused(409, "Conflict", f"evaluation {evaluation_id!r} already exists")
        spec = {"name": body.name, "start": start, "end": end, "enablePolicyOptimization":
                body.enablePolicyOptimization,
                "policies": [{"name": p.name, "arguments": p.arguments,
                              "params": {**DEFAULTS, **_arguments(p.arguments)}} for p in body.policies]}
        await asyncio.to_thread(pz.store.put_evaluation, evaluation_id, "Running", spec)
        pz.evaluation_tasks[evaluation_id] = asyncio.create_task(_evaluate(evaluation_id, spec))
        return _evaluation({"id": evaluation_id, "created": time.time(), "status": "Running", "spec": spec,
                            "result": None})

    async def _evaluate(evaluation_id: str, spec: dict) -> None:
        current = (pz.policy_name, dict(pz.learner.params))
        model_dir = pz.evaluation_dir / _safe(evaluation_id)
        try:
            result = await asyncio.to_thread(evaluations.run, pz.store, spec, current=current,
                                             epsilon=pz.settings.exploration_percentage / 100, model_dir=model_dir)
            status = "Succeeded"
            if await asyncio.to_thread(pz.store.get_evaluation, evaluation_id) is not None:  # not deleted meanwhile
                await asyncio.to_thread(pz.store.put_evaluation, evaluation_id, status, spec, result)
        except Exception as err:  # noqa: BLE001 - the evaluation fails, the service goes on
            log.error("evaluation %s failed: %s", evaluation_id, err)
            await asyncio.to_thread(pz.store.put_evaluation, evaluation_id, "Failed", spec, {"error": str(err)})
        finally:
            pz.evaluation_tasks.pop(evaluation_id, None)

    @admin.get("/evaluations/{evaluation_id}")
    async def get_evaluation(evaluation_id: str, startTime: str | None = None, endTime: str | None = None,
                             intervalInMinutes: int | None = Query(None, ge=1),
                             window: str | None = None) -> dict:
        ev = await asyncio.to_thread(pz.store.get_evaluation, evaluation_id)
        if ev is None:
            raise Refused(404, "ResourceNotFound", f"no evaluation {evaluation_id!r}")
        return _evaluation(ev, full=True)

    @admin.get("/evaluations")
    async def list_evaluations(top: int | None = Query(None, ge=0), skip: int = Query(0, ge=0),
                               filter: str | None = None) -> dict:
        rows = await asyncio.to_thread(pz.store.list_evaluations)
        rows = rows[skip:] if top is None else rows[skip:skip + top]
        return {"value": [_evaluation(r) for r in rows], "nextLink": None}

    @admin.delete("/evaluations/{evaluation_id}", status_code=204)
    async def delete_evaluation(evaluation_id: str) -> Response:
        if not await asyncio.to_thread(pz.store.delete_evaluation, evaluation_id):
            raise Refused(404, "ResourceNotFound", f"no evaluation {evaluation_id!r}")
        return Response(status_code=204)

    # ------------------------------------------------------------ feature importances: 501
    async def feature_importances() -> JSONResponse:
        return error(501, "NotImplemented", FEATURE_IMPORTANCE_501)

    for path, method, op in [("", "GET", "list"), ("/{feature_importance_id}", "GET", "get"),
                             ("/{feature_importance_id}", "PUT", "create"),
                             ("/{feature_importance_id}", "DELETE", "delete")]:
        admin.add_api_route(f"/featureImportances{path}", feature_importances, methods=[method],
                            operation_id=f"personalizer_{op}_feature_importance", responses={501: {}})

    router = APIRouter()
    router.include_router(user)
    router.include_router(admin)
    return router


def hot_route_for(pz: PersonalizerLoop, keys: KeyCheck):
    """Rank and reward without FastAPI's routing and dependency machinery (as ``/v1``'s
    hot routes are answered by the Guard): ``(route, status, payload)`` or None."""
    rank_path, prefix, suffix = "/personalizer/rank", "/personalizer/events/", "/reward"

    async def hot(method: str, path: str, headers: list, body: bytes) -> tuple[str, int, Any] | None:
        if method != "POST":
            return None
        if path == rank_path:
            route = rank_path
        elif path.startswith(prefix) and path.endswith(suffix) and path.count("/") == 4:
            route = "/personalizer/events/{event_id}/reward"
        else:
            return None
        try:
            key = next((v.decode("latin-1") for k, v in headers if k == b"ocp-apim-subscription-key"), None)
            try:
                keys.check(key, admin=False)
            except HTTPException as err:
                raise Refused(err.status_code, "Unauthorized", str(err.detail).replace(
                    "X-API-Key", "Ocp-Apim-Subscription-Key")) from None
            if route == rank_path:
                return route, 201, await pz.rank(_parse_rank(body))
            from urllib.parse import unquote
            event_id = unquote(path[len(prefix):-len(suffix)])
            await pz.reward(event_id, None, _parse(RewardRequest, body).value)
            return route, 204, None
        except Refused as err:
            return route, err.status, {"error": {"code": err.code, "message": err.message}}
    return hot


def _evaluation(ev: dict, full: bool = False) -> dict:
    spec = ev["spec"]
    out = {"id": ev["id"], "name": spec["name"], "startTime": iso_time(spec["start"]),
           "endTime": iso_time(spec["end"]), "status": ev["status"], "evaluationType": "Manual",
           "creationTime": iso_time(ev["created"])}
    if full:
        result = ev["result"] or {}
        out["description"] = result.get("error")
        out["optimalPolicy"] = result.get("optimalPolicy")
        out["content"] = result.get("content")
    return out


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:100] or "_"


def _arguments(text: str) -> dict:
    try:
        return parse_arguments(text)
    except ValueError as err:
        raise Refused(400, "BadArgument", str(err)) from None


def _json(raw: bytes) -> Any:
    import orjson
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Refused(400, "BadArgument", "malformed JSON body") from None


async def _body(request: Request, model: type[BaseModel]) -> Any:
    return _parse(model, await request.body())


def _parse_rank(raw: bytes) -> RankInput:
    return fast_rank(raw) or RankInput.from_model(_parse(RankRequest, raw))


def _parse(model: type[BaseModel], raw: bytes) -> Any:
    try:
        return model.model_validate_json(raw)
    except ValidationError as err:
        e = err.errors()[0]
        if e.get("type") == "json_invalid":
            raise Refused(400, "BadArgument", "malformed JSON body") from None
        where = ".".join(str(p) for p in e.get("loc", ())) or "body"
        raise Refused(400, "BadArgument", f"{where}: {e.get('msg')}") from None


async def refused_handler(_request: Request, err: Exception) -> JSONResponse:
    if isinstance(err, StoreUnavailable):
        return error(503, "ServiceUnavailable", f"store unavailable ({err}); nothing was stored, retry")
    assert isinstance(err, Refused)
    return error(err.status, err.code, err.message)
