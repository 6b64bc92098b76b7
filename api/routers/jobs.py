"""Backtest jobs: create, list, get, cancel, result, events (docs/api.md).

Routes translate HTTP to the jobs service (api/service.py) and the view
(api/replica.py) and back: they parse and validate the request, call one use
case or read, and render its answer. Dependencies come from api/deps.py.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ValidationError
from starlette.convertors import Convertor, register_url_convertor

from api import examples
from api.deps import jobs_replica, jobs_service, signed_caller
from api.errors import ApiError
from api.models import (
    TAG_PATTERN,
    BulkCancelled,
    BulkCancelRequest,
    CancelRequest,
    Job,
    JobCreate,
    JobEvents,
    JobLabels,
    JobLabelsPatch,
    JobList,
    JobResult,
)
from api.openapi import responses
from api.presenters import event_object, job_object, parse_iso_ms
from api.replica import JobsReplica
from api.responses import OrjsonResponse
from api.service import Decided, NotAccepted, Outcome, Pending
from jobs.state import JobState
from jobs.statuses import DONE, STATUSES, TERMINAL
from projections.cursors import CursorError


class _JobId(Convertor[str]):
    """A job id in a path: any segment but "cancel", so /jobs/cancel (bulk cancel, POST
    only) is not also /jobs/{job_id} (GET, PATCH), and its 405 names POST alone."""

    regex = r"(?!cancel$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("job_id", _JobId())
router = APIRouter(prefix="/v1/backtest/jobs", tags=["jobs"])
IDEMPOTENT_REPLAY_HEADER = "Idempotent-Replayed"
SSE_KEEP_ALIVE_S = 15.0


def answer(outcome: Outcome, render: Callable[[Any], dict[str, Any]] = job_object,
           prefix: str = "/v1/backtest/jobs") -> Any:
    """A use case's outcome as HTTP: the object (201 on create, 200 on cancel) as `render`
    draws it, 202 (its Location under `prefix`) or 503. Sweeps answer the same way."""
    if isinstance(outcome, Pending):
        # 202: the command is on the log (or being re-sent until it is) but undecided.
        return JSONResponse({"id": outcome.job_id, "status": "pending"}, status_code=202,
                            headers={"Location": f"{prefix}/{outcome.job_id}"})
    if isinstance(outcome, NotAccepted):
        raise ApiError("UNAVAILABLE", "the event log is unavailable; nothing was accepted")
    if outcome.replayed:
        return OrjsonResponse(render(outcome.job), status_code=201,
                              headers={IDEMPOTENT_REPLAY_HEADER: "true"})
    return render(outcome.job)


_CREATE_BODY = {
    "required": True,
    "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/JobCreate"},
        "examples": {
            "grid": {"summary": "BTC grid (seed page)", "value": examples.GRID_CONFIG},
            "breakout": {"summary": "ETH breakout (seed page)", "value": examples.BREAKOUT_CONFIG},
            "named": {"summary": "with a name and tags",
                      "value": {**examples.GRID_CONFIG, "name": "BTC grid, 10 levels",
                                "tags": ["btc", "grid"]}},
        },
    }},
}


M = TypeVar("M", bound=BaseModel)


def _body_as(model: type[M], body: bytes) -> M:
    """The body, validated after authentication (FastAPI would parse it before)."""
    try:
        return model.model_validate_json(body or b"null")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise ApiError("INVALID_PARAMETER", f"{where}: {first.get('msg', 'invalid')}") from None


@router.post(
    "", status_code=201, response_model=Job, openapi_extra={"requestBody": _CREATE_BODY},
    responses=responses(409, 503, ok=201, pending=True),
    summary="Create Job", description="Weight: 10. Submit a backtest; the job object is "
    "returned once the orchestrator has accepted it (status queued). With an "
    "`Idempotency-Key`, a retry with the same body returns the same job (201, header "
    "`Idempotent-Replayed: true`, current state); another body gives 409 IDEMPOTENCY_CONFLICT. "
    "202 `{\"id\", \"status\": \"pending\"}`: the submit is on the event log but the "
    "orchestrator did not decide it in time; the job appears under that id once decided "
    "(GET answers 404 until then), or retry with the same Idempotency-Key. Optional `name` "
    "and `tags` label the job (they are not part of its config; read them at "
    "`/jobs/{id}/labels`, change them with PATCH); a retry with the same Idempotency-Key "
    "applies them if the first request could not.")
async def create_job(
    request: Request,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1,
                                                  max_length=128)] = None,
) -> Any:
    caller = await signed_caller(request, "create_job")
    body = _body_as(JobCreate, await request.body())
    config = body.model_dump(exclude_none=True, exclude={"name", "tags"})
    service, request_id = jobs_service(request), request.headers.get("X-Request-Id")
    outcome = await service.submit(caller, config, idempotency_key, request_id)
    labels = {"name": body.name, "tags": body.tags}
    if isinstance(outcome, Decided) and _differ(outcome.job, labels):
        # Labels are their own command (the config's bytes and hash stay the config's);
        # a retry with the same key gets here again if this one did not land.
        await service.annotate(caller, outcome.job.job_id, name=body.name, tags=body.tags,
                               request_id=request_id)
    return answer(outcome)


def _differ(state: JobState, labels: dict[str, Any]) -> bool:
    """Whether the labels asked for are not the job's yet (None: nothing asked)."""
    return ((labels["name"] is not None and labels["name"] != state.name)
            or (labels["tags"] is not None
                and list(dict.fromkeys(labels["tags"])) != list(state.tags)))


@router.get("", response_model=JobList, responses=responses(),
            summary="List Backtest Jobs",
            description="Weight: 5. Recent jobs of the authenticated key's owner, sorted by "
            "submitted_at descending; walk pages with `cursor` = the previous `next_cursor`.")
async def list_jobs(
    request: Request,
    status: Annotated[str | None, Query(
        description="queued, running, done, failed or cancelled",
        json_schema_extra={"enum": list(STATUSES)})] = None,
    template_id: Annotated[str | None, Query(description="e.g. tpl_grid")] = None,
    from_: Annotated[str | None, Query(alias="from", description=(
        "Lower bound on submitted_at (inclusive), ISO 8601 UTC"),
        json_schema_extra={"format": "date-time"})] = None,
    to: Annotated[str | None, Query(description=(
        "Upper bound on submitted_at (exclusive), ISO 8601 UTC"),
        json_schema_extra={"format": "date-time"})] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size, 1-100")] = 20,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    tag: Annotated[str | None, Query(description="only jobs carrying this tag")] = None,
    sweep_id: Annotated[str | None, Query(description="only this sweep's children")] = None,
) -> Any:
    caller = await signed_caller(request, "list_jobs")
    jobs = jobs_replica(request)
    if status is not None and status not in STATUSES:
        raise ApiError("INVALID_PARAMETER", f"status: must be one of {', '.join(STATUSES)}")
    from_ms, to_ms = _bound("from", from_), _bound("to", to)
    if to_ms is not None and to_ms <= 0:
        return {"data": [], "next_cursor": None}  # nothing was submitted before 1970
    if from_ms is not None and from_ms < 0:
        from_ms = None
    try:
        page = jobs.served().list_jobs(caller.owner, status=status, template_id=template_id,
                                       from_ms=from_ms, to_ms=to_ms, limit=limit, cursor=cursor,
                                       tag=_tag(tag), sweep_id=sweep_id)
    except CursorError as exc:
        raise ApiError("INVALID_PARAMETER", f"cursor: {exc}") from None
    # The page assembled from the job objects' own bytes (each rendered once, api/documents.py).
    body = b'{"data":[' + b",".join(jobs.documents_of(page.raw_records)) + b'],"next_cursor":'
    return Response(body + orjson.dumps(page.next_cursor) + b"}", media_type="application/json")


def _tag(tag: str | None) -> str | None:
    if tag is not None and not re.fullmatch(TAG_PATTERN, tag):
        raise ApiError("INVALID_PARAMETER", "tag: letters, digits and _ . : - (1-64 chars, "
                       "starting with a letter or digit)")
    return tag


@router.post(
    "/cancel", response_model=BulkCancelled,
    openapi_extra={"requestBody": {"required": False, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/BulkCancelRequest"},
        "example": examples.CANCEL_REQUEST}}}},
    responses=responses(),
    summary="Cancel Matching Jobs",
    description="Weight: 50. Cancel every queued or running job of the caller that the "
    "filters match (`status` queued or running, `template_id`, `tag`; none: all of them), "
    "at most 10,000 a call (`remaining: true` says to call again). Answers how many matched "
    "and how many this call cancelled (a job that ended meanwhile is not counted). The "
    "body may be empty; an optional `reason` is recorded on each cancel.")
async def cancel_jobs(
    request: Request,
    status: Annotated[str | None, Query(description="queued or running",
                                        json_schema_extra={"enum": ["queued", "running"]})] = None,
    template_id: Annotated[str | None, Query(description="e.g. tpl_grid")] = None,
    tag: Annotated[str | None, Query(description="only jobs carrying this tag")] = None,
) -> Any:
    caller = await signed_caller(request, "cancel_jobs")
    body = await request.body()
    cancel = _body_as(BulkCancelRequest, body) if body.strip() else BulkCancelRequest()
    if status is not None and status not in ("queued", "running"):
        raise ApiError("INVALID_PARAMETER", "status: must be queued or running")
    matched, cancelled, more = await jobs_service(request).cancel_matching(
        caller, status=status, template_id=template_id, tag=_tag(tag), reason=cancel.reason,
        request_id=request.headers.get("X-Request-Id"))
    return {"matched": matched, "cancelled": cancelled, "remaining": more}


def _bound(name: str, value: str | None) -> int | None:
    try:
        return parse_iso_ms(value) if value is not None else None
    except (ValueError, OverflowError):
        raise ApiError("INVALID_PARAMETER", f"{name}: not an ISO 8601 timestamp") from None


@router.get("/{job_id:job_id}", response_model=Job, responses=responses(404),
            summary="Get Job", description="Weight: 1. The job object.")
async def get_job(job_id: str, request: Request) -> Any:
    caller = await signed_caller(request, "get_job")
    return Response(jobs_replica(request).owned_document(caller, job_id),
                    media_type="application/json")


@router.patch(
    "/{job_id:job_id}", response_model=JobLabels, responses=responses(404, 503, pending=True),
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/JobLabelsPatch"},
        "example": {"name": "BTC grid, 10 levels", "tags": ["btc", "grid"],
                    "notes": "too much turnover below 1h"}}}}},
    summary="Label Job",
    description="Weight: 5. Set the job's `name`, `tags` or `notes`, in any status (an "
    "event on the job's log, JobAnnotated). A field absent or null is kept; \"\" (or [] "
    "for tags) clears it. Answers the job's labels.")
async def label_job(job_id: str, request: Request) -> Any:
    caller = await signed_caller(request, "label_job")
    patch = _body_as(JobLabelsPatch, await request.body())
    if patch.name is None and patch.tags is None and patch.notes is None:
        raise ApiError("INVALID_PARAMETER", "body: set at least one of name, tags, notes")
    outcome = await jobs_service(request).annotate(
        caller, job_id, name=patch.name, tags=patch.tags, notes=patch.notes,
        request_id=request.headers.get("X-Request-Id"))
    if not isinstance(outcome, Decided):
        return answer(outcome)
    return _labels(outcome.job)


@router.get("/{job_id}/labels", response_model=JobLabels, responses=responses(404),
            summary="Get Job Labels", description="Weight: 1. The job's name, tags and notes.")
async def job_labels(job_id: str, request: Request) -> Any:
    caller = await signed_caller(request, "job_labels")
    return _labels(jobs_replica(request).owned(caller, job_id))


def _labels(state: JobState) -> dict[str, Any]:
    return {"id": state.job_id, "name": state.name, "tags": list(state.tags),
            "notes": state.notes}


@router.post(
    "/{job_id}/cancel", response_model=Job,
    openapi_extra={"requestBody": {"required": False, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/CancelRequest"},
        "example": examples.CANCEL_REQUEST}}}},
    responses=responses(404, 409, 503, pending=True),
    summary="Cancel Backtest Job",
    description="Weight: 5. Cancel a queued or running job. Jobs already in a terminal state "
    "(done, failed, or cancelled) cannot be cancelled (409 INVALID_STATE). The body may be "
    "empty; an optional `reason` (at most 200 chars) is recorded for audit. 202 "
    "`{\"id\", \"status\": \"pending\"}`: the cancel is on the event log but the "
    "orchestrator did not decide it in time; GET the job until it is terminal.")
async def cancel_job(job_id: str, request: Request) -> Any:
    caller = await signed_caller(request, "cancel_job")
    body = await request.body()
    try:
        cancel = CancelRequest.model_validate_json(body) if body.strip() else CancelRequest()
    except ValueError:
        raise ApiError("INVALID_PARAMETER", "reason: body must be {\"reason\": \"...\"} "
                       "with at most 200 chars") from None
    return answer(await jobs_service(request).cancel(caller, job_id, cancel.reason,
                                        request.headers.get("X-Request-Id")))


@router.get("/{job_id}/result", response_model=JobResult, responses=responses(404, 409, 503),
            summary="Get Result", description="Weight: 10. Metrics, equity_curve and trades of "
            "a done job; 409 INVALID_STATE while the job is not done.")
async def get_result(job_id: str, request: Request) -> Any:
    caller = await signed_caller(request, "get_result")
    jobs = jobs_replica(request)
    state = jobs.owned(caller, job_id)
    if state.status != DONE:
        raise ApiError("INVALID_STATE", f"job {job_id} is {state.status}, not done")
    return Response(await jobs.result(job_id, state.attempt), media_type="application/json")


# One Server-Sent Event (a frame: its `id`, `event` and `data` fields; `data` is the
# event as JSON text): what each frame of the stream is, as SSE-aware tools check it.
_SSE_FRAME = {"type": "object", "required": ["id", "event", "data"], "properties": {
    "id": {"type": "string", "pattern": "^[0-9]+$", "description": "the event's seq"},
    "event": {"type": "string", "description": "the event's type"},
    "data": {"type": "string", "description": "the event as JSON"}}}
_EVENTS_OK = {"text/event-stream": {"schema": _SSE_FRAME, "example":
              'id: 1\nevent: JobAccepted\ndata: {"type": "JobAccepted", "seq": 1, ...}\n\n'}}


@router.get("/{job_id}/events", response_model=JobEvents,
            responses={**responses(404), 200: {**responses(404)[200], "content": _EVENTS_OK}},
            summary="Job Events", description="Weight: 5. The job's event history (audit), "
            "oldest first. With `stream=true`, Server-Sent Events (`id` = seq, `event` = type, "
            "`data` = the event as JSON): the history so far, then live events until the job "
            "ends; `: keep-alive` comments every 15 s. `Last-Event-ID: N` (what an SSE client "
            "sends when it reconnects) starts after seq N: none missed, none repeated.")
async def job_events(
    job_id: str, request: Request, stream: bool = False,
    last_event_id: Annotated[str | None, Header(
        alias="Last-Event-ID", pattern=r"^[0-9]{1,12}$",
        description="only the events after this seq")] = None,
) -> Any:
    caller = await signed_caller(request, "job_events")
    jobs = jobs_replica(request)
    jobs.owned(caller, job_id)
    after = int(last_event_id) if last_event_id is not None else 0
    if not stream:
        return OrjsonResponse({"data": [event_object(r)
                                        for r in jobs.view.history(job_id, after_seq=after)]})
    return StreamingResponse(_sse(request, jobs, job_id, after),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


async def _sse(request: Request, jobs: JobsReplica, job_id: str,
               after_seq: int = 0) -> AsyncIterator[bytes]:
    """Server-Sent Events: the history after `after_seq`, then live events until the
    job ends.

    The state is read before the history: the projection writes a job's state and its
    events in one batch, so a history read after a terminal state holds the terminal
    event (read the other way round, an event applied between the two reads was never
    sent, and the stream ended without it)."""
    with jobs.changes(job_id) as changed:
        last_seq = after_seq
        while True:
            state = jobs.view.get(job_id)
            for record in jobs.view.history(job_id, after_seq=last_seq):
                last_seq = record["seq"]
                yield _sse_event(record)
            if state is None or state.status in TERMINAL or await request.is_disconnected():
                return
            try:
                await asyncio.wait_for(changed.get(), timeout=SSE_KEEP_ALIVE_S)
            except TimeoutError:
                yield b": keep-alive\n\n"


def _sse_event(record: dict[str, Any]) -> bytes:
    payload = orjson.dumps(event_object(record))
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (record["seq"], record["type"].encode(), payload)
