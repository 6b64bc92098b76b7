"""JobState <-> bytes for the orchestrator's RocksDB table and the projection."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from jobs.metrics import Metrics
from jobs.state import JobState

_SETS = ("command_ids", "run_ids")


def dump_state(state: JobState) -> bytes:
    data = dataclasses.asdict(state)
    for name in _SETS:
        data[name] = sorted(getattr(state, name))
    return orjson.dumps(data)


def load_state(raw: bytes | None, job_id: str) -> JobState:
    if raw is None:
        return JobState(job_id=job_id)
    data: dict[str, Any] = orjson.loads(raw)
    for name in _SETS:
        data[name] = frozenset(data.get(name, ()))
    if data.get("metrics") is not None:
        data["metrics"] = Metrics(**data["metrics"])
    known = {f.name for f in dataclasses.fields(JobState)}
    return JobState(**{k: v for k, v in data.items() if k in known})
