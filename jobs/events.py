"""The job's events, each declared once: its record, the statuses it may follow and the
change it makes to the state, side by side (docs/architecture.md, "How to add an event").

`@event(follows=...)` registers a class in `EVENTS`; the message-type table
(`jobs.messages.MESSAGE_TYPES`), the audit's allowed transitions (`jobs.audit.ALLOWED_FROM`)
and the work an event calls for (`jobs.decider.work_for`) are read from that registry, and
`jobs.decider.evolve` calls the event's own `evolve`. Each class matches its
`schemas/<Name>.avsc` field by field (tests/schemas/test_schemas_match_messages.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from jobs.metrics import Metrics
from jobs.state import JobState
from jobs.statuses import CANCELLED, DONE, FAILED, QUEUED, RUNNING, STATUSES


@dataclass(frozen=True, slots=True)
class Event:
    """The envelope every event carries (`schemas/types/Envelope.avsc`); the base of all
    events. `seq` is per job, gapless from 1; `event_id` is `uuid5(job_id, seq)`."""

    event_id: str
    job_id: str
    seq: int
    occurred_at: int
    causation_id: str
    correlation_id: str

    # set by @event: the statuses this event may follow (None: the job does not exist yet)
    follows: ClassVar[frozenset[str | None]] = frozenset()
    # set by @event: folding this event calls for a `RunBacktest` work item
    calls_for_work: ClassVar[bool] = False

    def evolve(self, state: Any) -> Any:
        """The state after this event (a job's events evolve a JobState, a sweep's a
        SweepState, jobs/sweep_events.py). Events are trusted facts: no validation here."""
        return self._next(state)

    def _next(self, state: Any, **changes: Any) -> Any:
        return dataclasses.replace(state, job_id=self.job_id, seq=self.seq, **changes)


EVENTS: dict[str, type[Event]] = {}  # record name -> class, in declaration order
E = TypeVar("E", bound=Event)


def event(*, follows: Iterable[str | None],
          calls_for_work: bool = False) -> Callable[[type[E]], type[E]]:
    """Register an event class with the statuses it may follow."""
    def register(cls: type[E]) -> type[E]:
        cls.follows = frozenset(follows)
        cls.calls_for_work = calls_for_work
        EVENTS[cls.__name__] = cls
        return cls
    return register


@event(follows={None}, calls_for_work=True)
@dataclass(frozen=True, slots=True)
class JobAccepted(Event):
    owner: str
    config_json: str
    submitted_at: int
    idempotency_key: str | None = None
    request_hash: str | None = None

    def evolve(self, state: JobState) -> JobState:
        return self._next(
            state, status=QUEUED, owner=self.owner, config_json=self.config_json,
            correlation_id=self.correlation_id, submitted_at=self.submitted_at, attempt=1,
            idempotency_key=self.idempotency_key, request_hash=self.request_hash,
            command_ids=state.command_ids | {self.causation_id})


@event(follows={QUEUED, RUNNING})  # RUNNING: a redelivered work item's run is adopted
@dataclass(frozen=True, slots=True)
class JobStarted(Event):
    attempt: int
    worker_id: str
    run_id: str

    def evolve(self, state: JobState) -> JobState:
        # a new run starts from zero progress, also when it takes over a running attempt
        return self._next(
            state, status=RUNNING, attempt=self.attempt, worker_id=self.worker_id,
            run_id=self.run_id, run_started_at=self.occurred_at,
            run_ids=state.run_ids | {self.run_id}, progress=0.0,
            started_at=state.started_at if state.started_at is not None else self.occurred_at)


@event(follows={RUNNING})
@dataclass(frozen=True, slots=True)
class JobProgressed(Event):
    attempt: int
    progress: float

    def evolve(self, state: JobState) -> JobState:
        return self._next(state, progress=self.progress)


@event(follows={RUNNING})
@dataclass(frozen=True, slots=True)
class JobSucceeded(Event):
    attempt: int
    metrics: Metrics
    result_ref: str

    def evolve(self, state: JobState) -> JobState:
        return self._next(state, status=DONE, progress=1.0, finished_at=self.occurred_at,
                          metrics=self.metrics, result_ref=self.result_ref)


@event(follows={RUNNING})
@dataclass(frozen=True, slots=True)
class JobFailed(Event):
    attempt: int
    error_code: str
    error_message: str

    def evolve(self, state: JobState) -> JobState:
        return self._next(state, status=FAILED, finished_at=self.occurred_at,
                          error_code=self.error_code, error_message=self.error_message)


@event(follows={QUEUED, RUNNING})
@dataclass(frozen=True, slots=True)
class JobCancelled(Event):
    progress: float
    reason: str | None = None

    def evolve(self, state: JobState) -> JobState:
        return self._next(state, status=CANCELLED, finished_at=self.occurred_at,
                          progress=self.progress, cancel_reason=self.reason,
                          command_ids=state.command_ids | {self.causation_id})


@event(follows={RUNNING}, calls_for_work=True)
@dataclass(frozen=True, slots=True)
class JobRequeued(Event):
    attempt: int  # the new attempt
    reason: str

    def evolve(self, state: JobState) -> JobState:
        return self._next(state, status=QUEUED, attempt=self.attempt, run_id=None,
                          worker_id=None, run_started_at=None, progress=0.0)


@event(follows=STATUSES)  # a job is labelled in any status, finished ones above all
@dataclass(frozen=True, slots=True)
class JobAnnotated(Event):
    """The job's name, tags and notes from now on (the whole set, not a change)."""

    tags: list[str]
    name: str | None = None
    notes: str | None = None

    def evolve(self, state: JobState) -> JobState:
        return self._next(state, name=self.name, tags=tuple(self.tags), notes=self.notes,
                          command_ids=state.command_ids | {self.causation_id})


@event(follows={None, *STATUSES})  # any command may be rejected, in any state
@dataclass(frozen=True, slots=True)
class CommandRejected(Event):
    command_id: str
    command_type: str
    error_code: str
    error_message: str

    def evolve(self, state: JobState) -> JobState:
        return self._next(state, command_ids=state.command_ids | {self.command_id})
