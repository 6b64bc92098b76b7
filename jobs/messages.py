"""The job's messages as frozen dataclasses, one per Avro record (docs/architecture.md,
"Schemas"): commands, reports, work items, results and decision records here; the events
in jobs/events.py, where each is declared with its rules, re-exported from here.

Each class is named like its `.avsc` record; `to_record`/`from_record` convert
to and from the dicts the codec reads and writes. Times are Unix milliseconds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

# The events and Metrics are declared in their own modules; re-exported from here.
from jobs.events import EVENTS
from jobs.events import CommandRejected as CommandRejected
from jobs.events import Event as Event
from jobs.events import JobAccepted as JobAccepted
from jobs.events import JobAnnotated as JobAnnotated
from jobs.events import JobCancelled as JobCancelled
from jobs.events import JobFailed as JobFailed
from jobs.events import JobProgressed as JobProgressed
from jobs.events import JobRequeued as JobRequeued
from jobs.events import JobStarted as JobStarted
from jobs.events import JobSucceeded as JobSucceeded
from jobs.metrics import Metrics as Metrics
from jobs.sweep_events import SweepAccepted as SweepAccepted
from jobs.sweep_events import SweepBestImproved as SweepBestImproved
from jobs.sweep_events import SweepCancelled as SweepCancelled
from jobs.sweep_events import SweepChildFinished as SweepChildFinished
from jobs.sweep_events import SweepCompleted as SweepCompleted
from jobs.sweep_events import SweepStoppedEarly as SweepStoppedEarly
from jobs.sweep_events import SweepWindowChosen as SweepWindowChosen
from jobs.sweep_events import SweepWindowImproved as SweepWindowImproved

# ---- commands (API -> orchestrator) -------------------------------------------------

@dataclass(frozen=True, slots=True)
class SubmitJob:
    command_id: str
    job_id: str
    owner: str
    config_json: str
    submitted_at: int
    correlation_id: str
    idempotency_key: str | None = None
    request_hash: str | None = None


@dataclass(frozen=True, slots=True)
class CancelJob:
    command_id: str
    job_id: str
    owner: str
    issued_at: int
    correlation_id: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class AnnotateJob:
    """Set the job's name, tags or notes; a None field is left as it is."""

    command_id: str
    job_id: str
    owner: str
    issued_at: int
    correlation_id: str
    name: str | None = None
    tags: list[str] | None = None
    notes: str | None = None


# ---- a sweep's commands (API -> orchestrator, keyed by the sweep id) ------------------

@dataclass(frozen=True, slots=True)
class SubmitSweep:
    command_id: str
    sweep_id: str
    owner: str
    config_json: str  # the sweep request (docs/api.md, "Sweeps"), validated by the API
    submitted_at: int
    correlation_id: str
    idempotency_key: str | None = None
    request_hash: str | None = None


@dataclass(frozen=True, slots=True)
class CancelSweep:
    command_id: str
    sweep_id: str
    owner: str
    issued_at: int
    correlation_id: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ChildFinished:
    """A child job reached a terminal status: sent by the orchestrator that folded the
    child's terminal event to its sweep's partition (at least once; the sweep hears each
    child once)."""

    sweep_id: str
    job_id: str
    index: int
    status: str
    finished_at: int
    metrics: Metrics | None = None


# ---- reports (engine -> orchestrator) -----------------------------------------------

@dataclass(frozen=True, slots=True)
class RunStarted:
    job_id: str
    attempt: int
    run_id: str
    report_seq: int
    worker_id: str
    occurred_at: int
    # the run budget (PIPAI_MAX_ATTEMPTS) as the engine's settings say; the decider needs
    # it to fail a redelivered work item's run once it is spent (3, that setting's
    # default, for an older engine that does not send it)
    max_attempts: int = 3


@dataclass(frozen=True, slots=True)
class RunProgressed:
    job_id: str
    attempt: int
    run_id: str
    report_seq: int
    progress: float
    occurred_at: int


@dataclass(frozen=True, slots=True)
class RunCompleted:
    job_id: str
    attempt: int
    run_id: str
    report_seq: int
    metrics: Metrics
    result_ref: str
    occurred_at: int


@dataclass(frozen=True, slots=True)
class RunFailed:
    job_id: str
    attempt: int
    run_id: str
    report_seq: int
    error_code: str
    error_message: str
    occurred_at: int


# ---- a timer input (orchestrator -> itself, through `commands`) -----------------------

@dataclass(frozen=True, slots=True)
class WorkerSilent:
    """The liveness timer saw no report of `attempt` for the heartbeat timeout."""

    job_id: str
    attempt: int
    now: int
    max_attempts: int


# ---- work and results -------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RunBacktest:
    job_id: str
    attempt: int
    config_json: str
    issued_at: int
    correlation_id: str


@dataclass(frozen=True, slots=True)
class BacktestResult:
    job_id: str
    attempt: int
    document_json: str


@dataclass(frozen=True, slots=True)
class ResultPart:
    """One page of a result's full trade list or equity curve (the summary document
    keeps the most recent 10,000 trades and 10,000 curve points)."""

    job_id: str
    attempt: int
    kind: str  # trades | equity
    index: int
    parts: int
    rows_json: str


@dataclass(frozen=True, slots=True)
class EquityPage:
    """One page of a result's full equity curve in binary (engine/equity_pages.py); a
    summary document whose curve travels so has `"equity_curve": "pages"`."""

    job_id: str
    attempt: int
    index: int
    parts: int
    data: bytes


Command = SubmitJob | CancelJob | AnnotateJob | SubmitSweep | CancelSweep
Report = RunStarted | RunProgressed | RunCompleted | RunFailed
SweepInput = SubmitSweep | CancelSweep | ChildFinished
Input = Command | Report | WorkerSilent | ChildFinished

_NAMESPACE_JOB_EVENTS = uuid.UUID("6f1b7c4e-3f0a-4c55-9d1e-2b8f0c9a7e11")


@dataclass(frozen=True, slots=True)
class InputDecided:
    """The orchestrator's verdict on one input, on the `decisions` topic.

    Makes "every input is decided" checkable from the log (docs/architecture.md,
    "Decision records"): an input that produced no event still leaves a record.
    """

    job_id: str
    input_topic: str
    input_partition: int
    input_offset: int
    input_type: str
    outcome: str  # events | ignored | poison
    reason: str
    event_seqs: list[int]
    instance: str
    decided_at: int


def event_id_for(job_id: str, seq: int) -> str:
    """Deterministic: an event decided again after a crash keeps its id."""
    return str(uuid.uuid5(_NAMESPACE_JOB_EVENTS, f"{job_id}/{seq}"))


# record name -> class: every message on a topic; the events come from their registry
MESSAGE_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (SubmitJob, CancelJob, AnnotateJob, WorkerSilent, RunStarted, RunProgressed,
                RunCompleted, RunFailed, RunBacktest, BacktestResult, ResultPart, EquityPage,
                InputDecided, SubmitSweep, CancelSweep, ChildFinished)
} | EVENTS


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def to_record(message: Any) -> tuple[str, dict[str, Any]]:
    """(Avro record name, dict) for the codec. A shallow copy: `dataclasses.asdict`
    deep-copies every field and was the orchestrator's dearest step of encoding;
    only a nested record (`Metrics`) needs turning into a dict."""
    cls = type(message)
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    record = {name: getattr(message, name) for name in names}
    for name, value in record.items():
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            record[name] = dataclasses.asdict(value)
    return cls.__name__, record


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _plain(value: Any) -> Any:
    """Undo fastavro's logical types: timestamps back to Unix ms, uuids to str."""
    if isinstance(value, dt.datetime):  # exact integer arithmetic, no float rounding
        return (value - _EPOCH) // dt.timedelta(milliseconds=1)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def from_record(name: str, record: dict[str, Any]) -> Any:
    cls = MESSAGE_TYPES[name]
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in record:
            continue  # a field the reader knows but this dataclass defaults
        value = _plain(record[f.name])
        if f.name == "metrics" and isinstance(value, dict):
            value = Metrics(**value)
        kwargs[f.name] = value
    return cls(**kwargs)


def aggregate_of(message: Any) -> str:
    """The id a message is keyed and decided by: a sweep's inputs carry `sweep_id` (a
    ChildFinished also names the child), everything else the job's (or, for events, the
    aggregate's) `job_id`."""
    sweep_id: str | None = getattr(message, "sweep_id", None)
    return sweep_id if sweep_id is not None else str(message.job_id)


def is_event(message: Any) -> bool:
    return isinstance(message, Event)


