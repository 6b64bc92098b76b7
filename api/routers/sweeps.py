"""Sweeps: create, list, get, cancel, leaderboard, walk-forward (docs/api.md, "Sweeps").

A sweep's children are ordinary jobs (list them with `GET /v1/backtest/jobs?sweep_id=`);
these routes translate HTTP to the sweeps service (api/sweeps_service.py) and the view.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request

from api.deps import jobs_replica, signed_caller, sweeps_service
from api.errors import ApiError
from api.models import (
    CancelRequest,
    Leaderboard,
    Sweep,
    SweepCreate,
    SweepList,
    WalkForwardReport,
)
from api.openapi import responses
from api.presenters import sweep_object
from api.routers.jobs import _body_as, _bound, answer
from api.service import Outcome
from api.sweeps_service import owned_sweep
from api.walk_forward_report import walk_forward_report
from jobs.statuses import STATUSES
from jobs.sweep_decider import spec_of
from jobs.sweep_state import SweepState
from projections.cursors import CursorError

router = APIRouter(prefix="/v1/backtest/sweeps", tags=["sweeps"])

EXAMPLE = {
    "base": {"template_id": "tpl_sma_cross", "params": {"fast": 10, "slow": 50},
             "symbols": ["BTCUSDT"], "timeframe": "1h", "start": "2024-01-01T00:00:00Z",
             "end": "2025-01-01T00:00:00Z", "capital": "10000.00", "leverage": 1,
             "fee_model": "fixed_bps", "fee_bps": "5"},
    "grid": {"params.fast": [5, 10, 20], "params.slow": [50, 100, 200]},
    "objective": {"metric": "sharpe", "goal": "maximize"},
    "constraints": [{"metric": "max_drawdown", "min": "-0.3"}],
    "early_stop": {"patience": 50},
}


def _render(request: Request, state: SweepState) -> dict[str, Any]:
    return sweep_object(state, jobs_replica(request).served().sweep_children(state.sweep_id))


def _answer(request: Request, outcome: Outcome) -> Any:
    return answer(outcome, lambda state: _render(request, state), router.prefix)


@router.post(
    "", status_code=201, response_model=Sweep, responses=responses(409, 503, ok=201, pending=True),
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/SweepCreate"}, "example": EXAMPLE}}}},
    summary="Create Sweep",
    description="Weight: 50. A parameter sweep: `base` (a job config) and exactly one of "
    "`grid` (config path -> values, their product) or `random` (`n` draws of a `space`, "
    "seeded); `objective` ranks the done children, `constraints` filter them, `early_stop` "
    "cancels the rest after `patience` children in a row without a better one. At most "
    "100,000 children, each an ordinary job; every child's config is checked before "
    "anything is accepted (400 INVALID_PARAMETER names the first bad child, its values and "
    "the field). `Idempotency-Key` as for Create Job.")
async def create_sweep(
    request: Request,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1,
                                                  max_length=128)] = None,
) -> Any:
    caller = await signed_caller(request, "create_sweep")
    raw = await request.body()
    _body_as(SweepCreate, raw)  # the shape, with the API's strict types
    body = orjson.loads(raw)  # kept as submitted (its key order is the grid's order)
    outcome = await sweeps_service(request).submit(caller, body, idempotency_key,
                                                   request.headers.get("X-Request-Id"))
    return _answer(request, outcome)


@router.get("", response_model=SweepList, responses=responses(), summary="List Sweeps",
            description="Weight: 5. The caller's sweeps, newest first; the filters, `limit` "
            "and `cursor` work as for List Backtest Jobs (template_id: the base's).")
async def list_sweeps(
    request: Request,
    status: Annotated[str | None, Query(json_schema_extra={"enum": list(STATUSES)})] = None,
    template_id: Annotated[str | None, Query(description="e.g. tpl_sma_cross")] = None,
    from_: Annotated[str | None, Query(alias="from", json_schema_extra={
        "format": "date-time"})] = None,
    to: Annotated[str | None, Query(json_schema_extra={"format": "date-time"})] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query()] = None,
) -> Any:
    caller = await signed_caller(request, "list_sweeps")
    if status is not None and status not in STATUSES:
        raise ApiError("INVALID_PARAMETER", f"status: must be one of {', '.join(STATUSES)}")
    from_ms, to_ms = _bound("from", from_), _bound("to", to)
    if to_ms is not None and to_ms <= 0:
        return {"data": [], "next_cursor": None}
    view = jobs_replica(request).served()
    try:
        page = view.list_sweeps(caller.owner, status=status, template_id=template_id,
                                from_ms=from_ms if from_ms is None or from_ms >= 0 else None,
                                to_ms=to_ms, limit=limit, cursor=cursor)
    except CursorError as exc:
        raise ApiError("INVALID_PARAMETER", f"cursor: {exc}") from None
    return {"data": [_render(request, s) for s in page.states if isinstance(s, SweepState)],
            "next_cursor": page.next_cursor}


@router.get("/{sweep_id}", response_model=Sweep, responses=responses(404),
            summary="Get Sweep", description="Weight: 1. The sweep object.")
async def get_sweep(sweep_id: str, request: Request) -> Any:
    caller = await signed_caller(request, "get_sweep")
    return _render(request, owned_sweep(jobs_replica(request).served(), caller, sweep_id))


@router.post(
    "/{sweep_id}/cancel", response_model=Sweep, responses=responses(404, 409, 503, pending=True),
    openapi_extra={"requestBody": {"required": False, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/CancelRequest"}}}}},
    summary="Cancel Sweep",
    description="Weight: 10. One command: the sweep ends cancelled and every child not yet "
    "terminal is cancelled (a child that ended meanwhile keeps its status). 409 "
    "INVALID_STATE if the sweep is already terminal. The body may be empty.")
async def cancel_sweep(sweep_id: str, request: Request) -> Any:
    caller = await signed_caller(request, "cancel_sweep")
    raw = await request.body()
    cancel = _body_as(CancelRequest, raw) if raw.strip() else CancelRequest()
    outcome = await sweeps_service(request).cancel(caller, sweep_id, cancel.reason,
                                                   request.headers.get("X-Request-Id"))
    return _answer(request, outcome)


@router.get("/{sweep_id}/leaderboard", response_model=Leaderboard, responses=responses(404),
            summary="Sweep Leaderboard",
            description="Weight: 5. The done children within the constraints, best first by "
            "the objective (ties in the order they finished), each with its varied values "
            "and its ten metrics; readable while the sweep runs.")
async def sweep_leaderboard(
    sweep_id: str, request: Request,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query()] = None,
) -> Any:
    caller = await signed_caller(request, "sweep_leaderboard")
    view = jobs_replica(request).served()
    state = owned_sweep(view, caller, sweep_id)
    try:
        rows, next_cursor = view.leaderboard(caller.owner, sweep_id, limit, cursor)
    except CursorError as exc:
        raise ApiError("INVALID_PARAMETER", f"cursor: {exc}") from None
    spec = spec_of(state.config_json)
    return {"sweep_id": sweep_id,
            "objective": {"metric": spec.objective.metric, "goal": spec.objective.goal},
            "data": rows, "next_cursor": next_cursor}


@router.get("/{sweep_id}/walk_forward", response_model=WalkForwardReport,
            responses=responses(404, 409), summary="Sweep Walk-Forward",
            description="Weight: 10. A walk-forward sweep's windows (train and test spans, "
            "the chosen values, in-sample and out-of-sample metrics) and the out-of-sample "
            "equity curve stitched across the windows whose test is done, with its ten "
            "metrics; readable while the sweep runs. 409 INVALID_STATE for a sweep "
            "without `walk_forward`.")
async def sweep_walk_forward(sweep_id: str, request: Request) -> Any:
    caller = await signed_caller(request, "sweep_walk_forward")
    replica = jobs_replica(request)
    state = owned_sweep(replica.served(), caller, sweep_id)
    report = await walk_forward_report(replica, state)
    if report is None:
        raise ApiError("INVALID_STATE", f"sweep {sweep_id} has no walk_forward")
    return report
