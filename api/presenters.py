"""JobState (the decider's fold) -> the job object of the seed pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson

from jobs.decider import JobState
from jobs.statuses import DONE, FAILED


def iso(ms: int | None) -> str | None:
    """ISO 8601 UTC with Z, to the second like the seed pages (sub-second part dropped)."""
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms // 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso_ms(text: str) -> int:
    """Unix ms of an ISO 8601 UTC timestamp ('Z' or +00:00; naive means UTC)."""
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp() * 1000)


def job_object(state: JobState) -> dict[str, Any]:
    return {
        "id": state.job_id,
        "status": state.status,
        "config": orjson.loads(state.config_json),
        "submitted_at": iso(state.submitted_at),
        "started_at": iso(state.started_at),
        "finished_at": iso(state.finished_at),
        "progress": round(float(state.progress), 6),
        "result": {"metrics": state.metrics.as_dict()}
        if state.status == DONE and state.metrics else None,
        "error": {"code": state.error_code, "message": state.error_message or ""}
        if state.status == FAILED else None,
    }


def event_object(record: dict[str, Any]) -> dict[str, Any]:
    out = dict(record)
    for key in ("occurred_at", "submitted_at"):
        if isinstance(out.get(key), int):
            out[key] = iso(out[key]) if key == "submitted_at" else _iso_ms(out[key])
    return out


def _iso_ms(ms: int) -> str:
    stamp = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
