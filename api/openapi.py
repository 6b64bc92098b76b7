"""What OpenAPI says beyond the route signatures: errors, headers, signing, examples.

Kept next to the routes' declarations so the document stays the truth the
schemathesis test holds the API to.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api import examples
from api.models import ErrorBody, PendingCommand
from api.weights import USED_WEIGHT_HEADER
from jobs.decider import job_not_found
from pipai.settings import Settings
from pipai.signing import API_KEY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER

_DEFAULTS = Settings()  # the examples show the documented defaults, written once there

_WEIGHT_HEADER = {"description": "Weight spent by this key in the last minute (moving window).",
                  "schema": {"type": "integer", "minimum": 0}}

_ERROR_EXAMPLES: dict[int, dict[str, Any]] = {
    400: examples.error("INVALID_PARAMETER", "limit: Input should be less than or equal to 100"),
    401: examples.error("INVALID_SIGNATURE", "signature does not match the request"),
    404: examples.error("NOT_FOUND", job_not_found("bt_3c91ef")),
    409: examples.error("INVALID_STATE", "job bt_3c91ef is already done"),
    413: examples.error("PAYLOAD_TOO_LARGE", "request body larger than "
                        f"{_DEFAULTS.api_max_body_bytes} bytes (PIPAI_API_MAX_BODY_BYTES)"),
    429: examples.error("RATE_LIMITED", f"weight budget of {_DEFAULTS.api_weight_per_minute} per "
                                        "minute exhausted"),
    503: examples.error("UNAVAILABLE", "the event log is unavailable; nothing was accepted"),
}
_ERROR_TEXT = {
    400: "INVALID_PARAMETER: a parameter or the body is invalid (the message names it).",
    401: "UNAUTHORIZED (missing/unknown/revoked key or signing headers), INVALID_SIGNATURE "
         "(signature mismatch or replayed request) or TIMESTAMP_OUT_OF_WINDOW.",
    404: "NOT_FOUND: the job does not exist or is not owned by the authenticated key.",
    409: "INVALID_STATE or IDEMPOTENCY_CONFLICT.",
    413: "PAYLOAD_TOO_LARGE: the body is larger than the limit (1 MiB by default); it was "
         "not read.",
    429: "RATE_LIMITED: the key's weight budget is spent; retry after Retry-After seconds.",
    503: "UNAVAILABLE: the command is known not to be on the event log: nothing was "
         "accepted, safe to retry (with the same Idempotency-Key).",
}
_STARTING_TEXT = ("UNAVAILABLE: this API instance is starting (the request was signed before "
                  "it started, or its view is catching up with the event log); nothing was "
                  "accepted, retry after Retry-After seconds.")
_PENDING_TEXT = ("Pending: the command is on the event log (or the API re-sends it until it "
                 "is) but the orchestrator did not decide it within the command deadline. "
                 "It will be decided exactly once; `Location` is the job.")


_JOBS = "/v1/backtest/jobs"
# Success examples, set after generation: FastAPI drops None values from the
# document, and the seed pages' `"error": null` must survive word for word.
_OK_EXAMPLES: dict[tuple[str, str, str], Any] = {
    (_JOBS, "post", "201"): {**examples.GRID_JOB_QUEUED},
    (_JOBS, "get", "200"): examples.JOB_LIST,
    (_JOBS + "/{job_id}", "get", "200"): examples.DONE_JOB,
    (_JOBS + "/{job_id}/cancel", "post", "200"): examples.CANCELLED_JOB,
}


def responses(*statuses: int, ok: int = 200, pending: bool = False) -> dict[int | str, Any]:
    """Documented responses: the success one with the weight header, 202 for a command
    left pending if `pending`, then the errors."""
    out: dict[int | str, Any] = {ok: {"headers": {USED_WEIGHT_HEADER: {**_WEIGHT_HEADER,
                                                                       "required": True}}}}
    if pending:
        out[202] = {"model": PendingCommand, "description": _PENDING_TEXT, "headers": {
            USED_WEIGHT_HEADER: {**_WEIGHT_HEADER, "required": True},
            "Location": {"description": "The job's path.", "required": True,
                         "schema": {"type": "string"}}},
            "content": {"application/json": {"example": examples.PENDING}}}
    for status in (400, 401, *statuses, 429):
        headers: dict[str, Any] = {USED_WEIGHT_HEADER: _WEIGHT_HEADER}
        if status == 429:
            headers["Retry-After"] = {"description": "Seconds to wait.", "required": True,
                                      "schema": {"type": "integer", "minimum": 1}}
        out[status] = {"model": ErrorBody, "description": _ERROR_TEXT[status],
                       "headers": headers,
                       "content": {"application/json": {"example": _ERROR_EXAMPLES[status]}}}
    return out


def _add_edge_responses(schema: dict[str, Any]) -> None:
    """413 and the start-up 503 on every operation: they are answered before any route runs
    (the body limit) or by every route (start-up), whatever the route declares."""
    edge = {"413": _ERROR_TEXT[413], "503": _STARTING_TEXT}
    for operations in schema["paths"].values():
        for operation in operations.values():
            for status, text in edge.items():
                declared = operation["responses"].get(status)
                if declared is not None:
                    declared["description"] += " Or " + text
                    continue
                operation["responses"][status] = {
                    "description": text,
                    "headers": {"Retry-After": {"description": "Seconds to wait.",
                                                "schema": {"type": "integer", "minimum": 1}}}
                    if status == "503" else {},
                    "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/ErrorBody"},
                        "example": _ERROR_EXAMPLES[int(status)]}}}


def _add_request_bodies(schema: dict[str, Any]) -> None:
    """The bodies routes read themselves (after the signature check), as components."""
    from api.models import BulkCancelRequest, CancelRequest, JobCreate, JobLabelsPatch

    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (CancelRequest, JobCreate, JobLabelsPatch, BulkCancelRequest):
        body = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(body.pop("$defs", {}))
        components[model.__name__] = body


# OpenAPI links (what a client, and schemathesis' stateful phase, may call next with an
# id from a created resource): operationId -> the operations that take that id.
_JOB_ID = {"job_id": "$response.body#/id"}
_SWEEP_ID = {"sweep_id": "$response.body#/id"}
_LINKS: dict[str, tuple[str, dict[str, str], tuple[str, ...]]] = {
    "create_job_v1_backtest_jobs_post": ("201", _JOB_ID, (
        "get_job_v1_backtest_jobs__job_id__get",
        "job_events_v1_backtest_jobs__job_id__events_get",
        "cancel_job_v1_backtest_jobs__job_id__cancel_post",
        "get_result_v1_backtest_jobs__job_id__result_get",
        "job_trades_v1_backtest_jobs__job_id__trades_get",
        "job_equity_v1_backtest_jobs__job_id__equity_get",
        "label_job_v1_backtest_jobs__job_id__patch",
        "job_labels_v1_backtest_jobs__job_id__labels_get")),
    "create_sweep_v1_backtest_sweeps_post": ("201", _SWEEP_ID, (
        "get_sweep_v1_backtest_sweeps__sweep_id__get",
        "cancel_sweep_v1_backtest_sweeps__sweep_id__cancel_post",
        "sweep_leaderboard_v1_backtest_sweeps__sweep_id__leaderboard_get",
        "sweep_walk_forward_v1_backtest_sweeps__sweep_id__walk_forward_get")),
}


def _add_links(schema: dict[str, Any]) -> None:
    operations = {op["operationId"]: op for ops in schema["paths"].values()
                  for op in ops.values()}
    for source, (status, parameters, targets) in _LINKS.items():
        response = operations[source]["responses"][status]
        missing = [t for t in targets if t not in operations]
        if missing:
            raise KeyError(f"OpenAPI links to unknown operations: {missing}")
        response["links"] = {target: {"operationId": target, "parameters": dict(parameters)}
                             for target in targets}


def install_openapi(app: FastAPI) -> None:
    """The signing headers as security schemes, required together on every operation."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version,
                             description=app.description, routes=app.routes)
        schemes = {
            "ApiKey": (API_KEY_HEADER, "The API key."),
            "Timestamp": (TIMESTAMP_HEADER, "Unix milliseconds; within 5,000 ms before and "
                                            "1,000 ms after server time."),
            "Signature": (SIGNATURE_HEADER, "Lowercase hex HMAC-SHA256 with the key's secret "
                                            "over timestamp + METHOD + path_with_query + body."),
        }
        schema.setdefault("components", {})["securitySchemes"] = {
            name: {"type": "apiKey", "in": "header", "name": header, "description": text}
            for name, (header, text) in schemes.items()
        }
        schema["security"] = [{name: [] for name in schemes}]
        _add_edge_responses(schema)
        _add_request_bodies(schema)
        _add_links(schema)
        for (path, method, status), example in _OK_EXAMPLES.items():
            content = schema["paths"][path][method]["responses"][status]["content"]
            content["application/json"]["example"] = example
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
