"""JobState <-> bytes for the orchestrator's RocksDB table and the projection."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from jobs.metrics import Metrics
from jobs.state import JobState

_SETS = ("command_ids", "run_ids")
_KNOWN = frozenset(f.name for f in dataclasses.fields(JobState))


def _sorted_set(value: Any) -> list[Any]:
    if isinstance(value, frozenset):
        return sorted(value)
    raise TypeError(f"cannot store {type(value).__name__}")


def dump_state(state: JobState) -> bytes:
    """orjson writes the dataclass (and its Metrics) itself, fields in declaration order,
    sets sorted: the bytes `dataclasses.asdict` gave, without its deep copy."""
    return orjson.dumps(state, default=_sorted_set)


def load_state(raw: bytes | None, job_id: str) -> JobState:
    if raw is None:
        return JobState(job_id=job_id)
    return state_of_record(orjson.loads(raw))


def record_of(state: JobState) -> dict[str, Any]:
    """The state as its stored record: plain JSON values (what `dump_state` writes)."""
    record: dict[str, Any] = orjson.loads(dump_state(state))
    return record


def state_of_record(record: dict[str, Any]) -> JobState:
    """The JobState of a stored record (the record is consumed)."""
    data = record
    for name in _SETS:
        data[name] = frozenset(data.get(name, ()))
    if "tags" in data:
        data["tags"] = tuple(data["tags"])
    if data.get("metrics") is not None:
        data["metrics"] = Metrics(**data["metrics"])
    return JobState(**{k: v for k, v in data.items() if k in _KNOWN})
