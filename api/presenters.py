"""JobState (the decider's fold) -> the job object of the seed pages."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import orjson

from jobs.decider import JobState
from jobs.state_codec import record_of
from jobs.statuses import DONE, FAILED, QUEUED, RUNNING
from jobs.sweep_decider import spec_of
from jobs.sweep_space import varied
from jobs.sweep_state import SweepState, sweep_of


def iso(ms: int | None) -> str | None:
    """ISO 8601 UTC with Z, to the second like the seed pages (sub-second part dropped)."""
    if ms is None:
        return None
    t = time.gmtime(ms // 1000)
    return f"{t[0]:04d}-{t[1]:02d}-{t[2]:02d}T{t[3]:02d}:{t[4]:02d}:{t[5]:02d}Z"


def parse_iso_ms(text: str) -> int:
    """Unix ms of an ISO 8601 UTC timestamp ('Z' or +00:00; naive means UTC)."""
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp() * 1000)


def job_object(state: JobState) -> dict[str, Any]:
    return job_document(record_of(state))


def job_document(record: dict[str, Any]) -> dict[str, Any]:
    """The job object of a stored job record (jobs/state_codec.py): the read path renders
    straight from the stored JSON, without building a JobState."""
    status = record["status"]
    metrics = record.get("metrics")
    document = {
        "id": record["job_id"],
        "status": status,
        "config": orjson.loads(record["config_json"]),
        "submitted_at": iso(record.get("submitted_at")),
        "started_at": iso(record.get("started_at")),
        "finished_at": iso(record.get("finished_at")),
        "progress": round(float(record.get("progress", 0.0)), 6),
        "result": {"metrics": metrics} if status == DONE and metrics else None,
        "error": {"code": record.get("error_code"), "message": record.get("error_message") or ""}
        if status == FAILED else None,
    }
    child = sweep_of(record["job_id"])
    if child is not None:  # a plain job keeps the seed pages' object to the letter
        document["sweep_id"] = child[0]
    return document


def event_object(record: dict[str, Any]) -> dict[str, Any]:
    out = dict(record)
    for key in ("occurred_at", "submitted_at"):
        if isinstance(out.get(key), int):
            out[key] = iso(out[key]) if key == "submitted_at" else _iso_ms(out[key])
    return out


def _iso_ms(ms: int) -> str:
    stamp = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def sweep_object(state: SweepState, children: dict[str, Any]) -> dict[str, Any]:
    """The sweep object (docs/api.md, "Sweeps"). The terminal counts are the sweep's own
    (the children's ends it has heard, so they agree with its status); how many run is
    the view's count of its children's own events, capped by what is left."""
    finished = state.finished_count
    running = max(0, min(int(children.get("running", 0)), state.total - finished))
    status = state.status
    if status == QUEUED and (running or finished):
        status = RUNNING
    starts = [t for t in (state.started_at, children.get("started_at")) if t is not None]
    started = min(starts) if starts else None  # the first child's start, as either saw it
    return {
        "id": state.sweep_id,
        "status": status,
        "config": orjson.loads(state.config_json),
        "counts": {"total": state.total, "queued": state.total - finished - running,
                   "running": running, "done": state.done, "failed": state.failed,
                   "cancelled": state.cancelled},
        "progress": round(finished / state.total, 6) if state.total else 0.0,
        "best": _best(state),
        "stopped_early": state.stopped_early,
        "submitted_at": iso(state.submitted_at),
        "started_at": iso(started if status != QUEUED else None),
        "finished_at": iso(state.finished_at),
    }


def _best(state: SweepState) -> dict[str, Any] | None:
    if state.best_index is None or state.best_metrics is None:
        return None
    spec = spec_of(state.config_json)
    metrics = state.best_metrics.as_dict()
    return {"job_id": state.best_job_id, "values": varied(spec, state.best_index),
            "objective": metrics[spec.objective.metric], "metrics": metrics}
