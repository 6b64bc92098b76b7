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
    data: dict[str, Any] = orjson.loads(raw)
    for name in _SETS:
        data[name] = frozenset(data.get(name, ()))
    if data.get("metrics") is not None:
        data["metrics"] = Metrics(**data["metrics"])
    return JobState(**{k: v for k, v in data.items() if k in _KNOWN})
