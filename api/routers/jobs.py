"""Backtest jobs: create, list, get, cancel, result, events (DESIGN §4)."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError

from api import examples
from api.auth import Caller, signed
from api.commands import CommandPending
from api.errors import ApiError
from api.models import CancelRequest, Job, JobConfig, JobEvents, JobList, JobResult
from api.openapi import responses
from api.presenters import event_object, job_object, parse_iso_ms
from api.weights import WEIGHTS
from engine import ConfigError, parse_config
from jobs.decider import JobState
from jobs.messages import CancelJob, CommandRejected, Event, SubmitJob
from jobs.statuses import DONE, STATUSES, TERMINAL
from projections.cursors import CursorError
from projections.jobs_view import JobsView

router = APIRouter(prefix="/v1/backtest/jobs", tags=["jobs"])
IDEMPOTENT_REPLAY_HEADER = "Idempotent-Replayed"


# The signed caller, having spent the endpoint's weight (DESIGN §4).
CreateCaller = Annotated[Caller, Depends(signed(WEIGHTS["create_job"]))]
ListCaller = Annotated[Caller, Depends(signed(WEIGHTS["list_jobs"]))]
GetCaller = Annotated[Caller, Depends(signed(WEIGHTS["get_job"]))]
ResultCaller = Annotated[Caller, Depends(signed(WEIGHTS["get_result"]))]
CancelCaller = Annotated[Caller, Depends(signed(WEIGHTS["cancel_job"]))]
EventsCaller = Annotated[Caller, Depends(signed(WEIGHTS["job_events"]))]


def _view(request: Request) -> JobsView:
    """The view, once it has caught up with the log; before that it may lack any job."""
    if not request.app.state.projection.caught_up:
        raise ApiError("UNAVAILABLE", "this API instance is catching up with the event log; "
                       "retry shortly", headers={"Retry-After": "1"})
    view: JobsView = request.app.state.view
    return view


def _owned(view: JobsView, caller: Caller, job_id: str) -> JobState:
    state = view.get(job_id)
    if state is None or not state.exists or state.owner != caller.owner:
        raise ApiError("NOT_FOUND", f"job {job_id} not found")
    return state


def _raise_rejection(event: Event | None) -> None:
    if isinstance(event, CommandRejected):
        raise ApiError(event.error_code, event.error_message)


def _pending(job_id: str) -> JSONResponse:
    """202: the command is on the log (or being re-sent until it is) but undecided."""
    return JSONResponse({"id": job_id, "status": "pending"}, status_code=202,
                        headers={"Location": f"{router.prefix}/{job_id}"})


def _canonical(config: dict[str, Any]) -> str:
    return orjson.dumps(config, option=orjson.OPT_SORT_KEYS).decode()


_CREATE_BODY = {
    "required": True,
    "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/JobConfig"},
        "examples": {
            "grid": {"summary": "BTC grid (seed page)", "value": examples.GRID_CONFIG},
            "breakout": {"summary": "ETH breakout (seed page)", "value": examples.BREAKOUT_CONFIG},
        },
    }},
}


def _config_from(body: bytes) -> JobConfig:
    """The body, validated after authentication (FastAPI would parse it before)."""
    try:
        return JobConfig.model_validate_json(body or b"null")
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
    "(GET answers 404 until then), or retry with the same Idempotency-Key.")
async def create_job(
    request: Request,
    caller: CreateCaller,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1,
                                                  max_length=128)] = None,
) -> Any:
    config = _config_from(await request.body())
    raw = config.model_dump(exclude_none=True)
    try:
        parse_config(raw)
    except ConfigError as exc:
        raise ApiError("INVALID_PARAMETER", f"{exc.field}: {exc.message}") from None
    # Stored as sent (the echo keeps the caller's key order); hashed canonically.
    config_json = orjson.dumps(raw).decode()
    request_hash = hashlib.sha256(_canonical(raw).encode()).hexdigest()
    view = _view(request)
    if idempotency_key:
        digest = hashlib.sha256(f"{caller.owner}\x00{idempotency_key}".encode()).hexdigest()
        job_id = "bt_" + digest[:16]
        if (replay := _replayed(view, job_id, request_hash)) is not None:
            return replay
    else:
        job_id = "bt_" + uuid.uuid4().hex[:16]
    command_id = uuid.uuid4().hex
    command = SubmitJob(command_id=command_id, job_id=job_id, owner=caller.owner,
                        config_json=config_json, submitted_at=int(time.time() * 1000),
                        correlation_id=request.headers.get("X-Request-Id", command_id),
                        idempotency_key=idempotency_key, request_hash=request_hash)
    exists = (lambda: _exists(view, job_id)) if idempotency_key else None
    try:
        event = await request.app.state.commands.send(command, already_decided=exists)
    except CommandPending:
        return _pending(job_id)
    if event is not None:
        _raise_rejection(event)
    if idempotency_key and (event is None or event.causation_id != command_id):
        # Another request with the same key got there first (a concurrent retry).
        replay = _replayed(view, job_id, request_hash)
        if replay is not None:
            return replay
    return job_object(_owned(view, caller, job_id))


def _exists(view: JobsView, job_id: str) -> bool:
    state = view.get(job_id)
    return state is not None and state.exists


def _replayed(view: JobsView, job_id: str, request_hash: str) -> JSONResponse | None:
    existing = view.get(job_id)
    if existing is None or not existing.exists:
        return None
    if existing.request_hash != request_hash:
        raise ApiError("IDEMPOTENCY_CONFLICT",
                       "Idempotency-Key was already used with another request body")
    return JSONResponse(job_object(existing), status_code=201,
                        headers={IDEMPOTENT_REPLAY_HEADER: "true"})


@router.get("", response_model=JobList, responses=responses(),
            summary="List Backtest Jobs",
            description="Weight: 5. Recent jobs of the authenticated key's owner, sorted by "
            "submitted_at descending; walk pages with `cursor` = the previous `next_cursor`.")
async def list_jobs(
    request: Request,
    caller: ListCaller,
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
) -> Any:
    if status is not None and status not in STATUSES:
        raise ApiError("INVALID_PARAMETER", f"status: must be one of {', '.join(STATUSES)}")
    bounds: dict[str, int | None] = {}
    for name, value in (("from", from_), ("to", to)):
        try:
            bounds[name] = parse_iso_ms(value) if value is not None else None
        except (ValueError, OverflowError):
            raise ApiError("INVALID_PARAMETER", f"{name}: not an ISO 8601 timestamp") from None
    if bounds["to"] is not None and bounds["to"] <= 0:
        return {"data": [], "next_cursor": None}  # nothing was submitted before 1970
    if bounds["from"] is not None and bounds["from"] < 0:
        bounds["from"] = None
    try:
        page = _view(request).list_jobs(caller.owner, status=status, template_id=template_id,
                                        from_ms=bounds["from"], to_ms=bounds["to"],
                                        limit=limit, cursor=cursor)
    except CursorError as exc:
        raise ApiError("INVALID_PARAMETER", f"cursor: {exc}") from None
    return {"data": [job_object(s) for s in page.states], "next_cursor": page.next_cursor}


@router.get("/{job_id}", response_model=Job, responses=responses(404),
            summary="Get Job", description="Weight: 1. The job object.")
async def get_job(job_id: str, request: Request, caller: GetCaller) -> Any:
    return job_object(_owned(_view(request), caller, job_id))


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
async def cancel_job(job_id: str, request: Request, caller: CancelCaller) -> Any:
    body = await request.body()
    try:
        cancel = CancelRequest.model_validate_json(body) if body.strip() else CancelRequest()
    except ValueError:
        raise ApiError("INVALID_PARAMETER", "reason: body must be {\"reason\": \"...\"} "
                       "with at most 200 chars") from None
    view = _view(request)
    state = _owned(view, caller, job_id)
    if state.status in TERMINAL:
        raise ApiError("INVALID_STATE", f"job {job_id} is already {state.status}")
    command_id = uuid.uuid4().hex
    command = CancelJob(command_id=command_id, job_id=job_id, owner=caller.owner,
                        issued_at=int(time.time() * 1000),
                        correlation_id=request.headers.get("X-Request-Id", command_id),
                        reason=cancel.reason)
    try:
        event = await request.app.state.commands.send(command)
    except CommandPending:
        return _pending(job_id)
    _raise_rejection(event)
    return job_object(_owned(view, caller, job_id))


@router.get("/{job_id}/result", response_model=JobResult, responses=responses(404, 409, 503),
            summary="Get Result", description="Weight: 10. Metrics, equity_curve and trades of "
            "a done job; 409 INVALID_STATE while the job is not done.")
async def get_result(job_id: str, request: Request, caller: ResultCaller) -> Any:
    view = _view(request)
    state = _owned(view, caller, job_id)
    if state.status != DONE:
        raise ApiError("INVALID_STATE", f"job {job_id} is {state.status}, not done")
    deadline = time.monotonic() + 5.0
    # The result and the final event travel on different topics: wait briefly for the result.
    while (document := view.result(job_id, state.attempt)) is None:
        if time.monotonic() > deadline:
            raise ApiError("UNAVAILABLE", "the result is not yet available; retry shortly")
        await asyncio.sleep(0.05)
    return Response(document, media_type="application/json")


_EVENTS_OK = {"text/event-stream": {"schema": {"type": "string"}, "example":
              'id: 1\nevent: JobAccepted\ndata: {"type": "JobAccepted", "seq": 1, ...}\n\n'}}


@router.get("/{job_id}/events", response_model=JobEvents,
            responses={**responses(404), 200: {**responses(404)[200], "content": _EVENTS_OK}},
            summary="Job Events", description="Weight: 5. The job's event history (audit), "
            "oldest first. With `stream=true`, Server-Sent Events (`id` = seq, `event` = type, "
            "`data` = the event as JSON): the history so far, then live events until the job "
            "ends; `: keep-alive` comments every 15 s.")
async def job_events(job_id: str, request: Request, caller: EventsCaller,
                     stream: bool = False) -> Any:
    view = _view(request)
    _owned(view, caller, job_id)
    if not stream:
        return {"data": [event_object(r) for r in view.history(job_id)]}
    return StreamingResponse(_sse(request, view, job_id), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


async def _sse(request: Request, view: JobsView, job_id: str) -> AsyncIterator[bytes]:
    """Server-Sent Events: the history so far, then live events until the job ends."""
    queue: asyncio.Queue[None] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def on_applied(events: list[Event], _changed: list[JobState]) -> None:
        if any(e.job_id == job_id for e in events):
            loop.call_soon_threadsafe(queue.put_nowait, None)

    runner = request.app.state.projection
    runner.listeners.append(on_applied)
    try:
        last_seq = 0
        while True:
            for record in view.history(job_id, after_seq=last_seq):
                last_seq = record["seq"]
                payload = orjson.dumps(event_object(record))
                kind = record["type"].encode()
                yield b"id: %d\nevent: %s\ndata: %s\n\n" % (last_seq, kind, payload)
            state = view.get(job_id)
            if state is None or state.status in TERMINAL or await request.is_disconnected():
                return
            try:
                await asyncio.wait_for(queue.get(), timeout=15)
            except TimeoutError:
                yield b": keep-alive\n\n"
    finally:
        runner.listeners.remove(on_applied)
