"""Aggregate states <-> bytes for the orchestrator's RocksDB table and the projection:
a job's `JobState` and a sweep's `SweepState` (told apart by the id, jobs/sweep_state.py)."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from jobs.metrics import Metrics
from jobs.state import Aggregate, JobState, initial_state
from jobs.sweep_state import SweepState, is_sweep_id

_SETS = ("command_ids", "run_ids")
_KNOWN = frozenset(f.name for f in dataclasses.fields(JobState))
_SWEEP_KNOWN = frozenset(f.name for f in dataclasses.fields(SweepState))
_WINDOWS = ("window_left", "window_best", "window_value", "window_chosen")  # JSON lists


def _sorted_set(value: Any) -> list[Any]:
    if isinstance(value, frozenset):
        return sorted(value)
    raise TypeError(f"cannot store {type(value).__name__}")


def dump_state(state: Aggregate) -> bytes:
    """orjson writes the dataclass (and its Metrics) itself, fields in declaration order,
    sets sorted: the bytes `dataclasses.asdict` gave, without its deep copy. A sweep's
    bit per heard child is written as hex (it outgrows a JSON integer)."""
    if isinstance(state, SweepState):
        return orjson.dumps(_sweep_record(state), default=_sorted_set)
    return orjson.dumps(state, default=_sorted_set)


def _sweep_record(state: SweepState) -> dict[str, Any]:
    record = {f.name: getattr(state, f.name) for f in dataclasses.fields(SweepState)}
    record["finished"] = format(state.finished, "x")
    return record


def load_state(raw: bytes | None, job_id: str) -> Any:
    """The stored state (a JobState, or a SweepState for a sweep id)."""
    if raw is None:
        return initial_state(job_id)
    return state_of_record(orjson.loads(raw))


def record_of(state: Aggregate) -> dict[str, Any]:
    """The state as its stored record: plain JSON values (what `dump_state` writes)."""
    record: dict[str, Any] = orjson.loads(dump_state(state))
    return record


def state_of_record(record: dict[str, Any]) -> Any:
    """The state of a stored record (the record is consumed)."""
    data = record
    if is_sweep_id(data.get("job_id", "")):
        return _sweep_of_record(data)
    for name in _SETS:
        data[name] = frozenset(data.get(name, ()))
    if "tags" in data:
        data["tags"] = tuple(data["tags"])
    if data.get("metrics") is not None:
        data["metrics"] = Metrics(**data["metrics"])
    return JobState(**{k: v for k, v in data.items() if k in _KNOWN})


def _sweep_of_record(data: dict[str, Any]) -> SweepState:
    data["command_ids"] = frozenset(data.get("command_ids", ()))
    finished = data.get("finished", 0)
    data["finished"] = int(finished, 16) if isinstance(finished, str) else int(finished)
    if data.get("best_metrics") is not None:
        data["best_metrics"] = Metrics(**data["best_metrics"])
    for name in _WINDOWS:
        data[name] = tuple(data.get(name, ()))
    return SweepState(**{k: v for k, v in data.items() if k in _SWEEP_KNOWN})
