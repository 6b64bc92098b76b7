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
from fastapi.responses import Response, StreamingResponse

from api.auth import Caller, authenticate
from api.errors import ApiError
from api.models import CancelRequest, ErrorBody, Job, JobConfig, JobEvents, JobList, JobResult
from api.presenters import event_object, job_object, parse_iso_ms
from engine import ConfigError, parse_config
from orchestrator.decider import DONE, STATUSES, TERMINAL, JobState
from orchestrator.messages import CancelJob, CommandRejected, Event, SubmitJob
from projections.jobs_view import CursorError, JobsView

router = APIRouter(prefix="/v1/backtest/jobs", tags=["jobs"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 404, 409, 429, 503)
}
CallerDep = Annotated[Caller, Depends(authenticate)]


def _view(request: Request) -> JobsView:
    view: JobsView = request.app.state.view
    return view


def _owned(view: JobsView, caller: Caller, job_id: str) -> JobState:
    state = view.get(job_id)
    if state is None or not state.exists or state.owner != caller.owner:
        raise ApiError("NOT_FOUND", f"job {job_id} not found")
    return state


def _raise_rejection(event: Event) -> None:
    if isinstance(event, CommandRejected):
        raise ApiError(event.error_code, event.error_message)


def _canonical(config: dict[str, Any]) -> str:
    return orjson.dumps(config, option=orjson.OPT_SORT_KEYS).decode()


@router.post("", status_code=201, response_model=Job, responses=ERRORS)
async def create_job(
    config: JobConfig,
    request: Request,
    caller: CallerDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)] = None,
) -> Any:
    raw = config.model_dump(exclude_none=True)
    try:
        parse_config(raw)
    except ConfigError as exc:
        raise ApiError("INVALID_PARAMETER", f"{exc.field}: {exc.message}") from None
    config_json = _canonical(raw)
    request_hash = hashlib.sha256(config_json.encode()).hexdigest()
    view = _view(request)
    if idempotency_key:
        digest = hashlib.sha256(f"{caller.owner}\x00{idempotency_key}".encode()).hexdigest()
        job_id = "bt_" + digest[:16]
        existing = view.get(job_id)
        if existing is not None and existing.exists:
            if existing.request_hash != request_hash:
                raise ApiError("IDEMPOTENCY_CONFLICT",
                               "Idempotency-Key was already used with another request body")
            return job_object(existing)
    else:
        job_id = "bt_" + uuid.uuid4().hex[:16]
    command_id = uuid.uuid4().hex
    command = SubmitJob(command_id=command_id, job_id=job_id, owner=caller.owner,
                        config_json=config_json, submitted_at=int(time.time() * 1000),
                        correlation_id=request.headers.get("X-Request-Id", command_id),
                        idempotency_key=idempotency_key, request_hash=request_hash)
    event = await request.app.state.commands.send(command)
    _raise_rejection(event)
    return job_object(_owned(view, caller, job_id))


@router.get("", response_model=JobList, responses=ERRORS)
async def list_jobs(
    request: Request,
    caller: CallerDep,
    status: Annotated[str | None, Query()] = None,
    template_id: Annotated[str | None, Query()] = None,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query()] = None,
) -> Any:
    if status is not None and status not in STATUSES:
        raise ApiError("INVALID_PARAMETER", f"status: must be one of {', '.join(STATUSES)}")
    bounds: dict[str, int | None] = {}
    for name, value in (("from", from_), ("to", to)):
        try:
            bounds[name] = parse_iso_ms(value) if value is not None else None
        except ValueError:
            raise ApiError("INVALID_PARAMETER", f"{name}: not an ISO 8601 timestamp") from None
    try:
        page = _view(request).list_jobs(caller.owner, status=status, template_id=template_id,
                                        from_ms=bounds["from"], to_ms=bounds["to"],
                                        limit=limit, cursor=cursor)
    except CursorError as exc:
        raise ApiError("INVALID_PARAMETER", f"cursor: {exc}") from None
    return {"data": [job_object(s) for s in page.states], "next_cursor": page.next_cursor}


@router.get("/{job_id}", response_model=Job, responses=ERRORS)
async def get_job(job_id: str, request: Request, caller: CallerDep) -> Any:
    return job_object(_owned(_view(request), caller, job_id))


@router.post("/{job_id}/cancel", response_model=Job, responses=ERRORS)
async def cancel_job(job_id: str, request: Request, caller: CallerDep) -> Any:
    body = await request.body()
    try:
        cancel = CancelRequest.model_validate_json(body) if body.strip() else CancelRequest()
    except ValueError as exc:
        raise ApiError("INVALID_PARAMETER", f"reason: {exc.__class__.__name__}: "
                       "body must be {\"reason\": \"...\"} with at most 200 chars") from None
    view = _view(request)
    state = _owned(view, caller, job_id)
    if state.status in TERMINAL:
        raise ApiError("INVALID_STATE", f"job {job_id} is already {state.status}")
    command_id = uuid.uuid4().hex
    command = CancelJob(command_id=command_id, job_id=job_id, owner=caller.owner,
                        issued_at=int(time.time() * 1000),
                        correlation_id=request.headers.get("X-Request-Id", command_id),
                        reason=cancel.reason)
    event = await request.app.state.commands.send(command)
    _raise_rejection(event)
    return job_object(_owned(view, caller, job_id))


@router.get("/{job_id}/result", response_model=JobResult, responses=ERRORS)
async def get_result(job_id: str, request: Request, caller: CallerDep) -> Any:
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


@router.get("/{job_id}/events", response_model=JobEvents, responses=ERRORS)
async def job_events(job_id: str, request: Request, caller: CallerDep,
                     stream: bool = False) -> Any:
    view = _view(request)
    _owned(view, caller, job_id)
    if not stream:
        return {"data": [event_object(r) for r in view.history(job_id)]}
    return StreamingResponse(_sse(request, view, job_id), media_type="text/event-stream")


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
                yield b"id: %d\nevent: %s\ndata: %s\n\n" % (last_seq, record["type"].encode(), payload)
            state = view.get(job_id)
            if state is None or state.status in TERMINAL or await request.is_disconnected():
                return
            try:
                await asyncio.wait_for(queue.get(), timeout=15)
            except TimeoutError:
                yield b": keep-alive\n\n"
    finally:
        runner.listeners.remove(on_applied)
