"""A job's state: what the events of its log add up to (docs/architecture.md, "The decider").

Each event's `evolve` (jobs/events.py) moves it on; the orchestrator's table, the projection
and replay all store this one shape (jobs/state_codec.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from jobs.metrics import Metrics
from jobs.statuses import TERMINAL
from jobs.sweep_state import SweepState, is_sweep_id


@dataclass(frozen=True, slots=True)
class JobState:
    job_id: str = ""
    status: str | None = None
    seq: int = 0
    owner: str = ""
    config_json: str = ""
    correlation_id: str = ""
    submitted_at: int | None = None
    started_at: int | None = None
    finished_at: int | None = None
    progress: float = 0.0
    attempt: int = 0
    run_id: str | None = None
    run_started_at: int | None = None
    run_ids: frozenset[str] = field(default_factory=frozenset)  # every run ever started
    worker_id: str | None = None
    metrics: Metrics | None = None
    result_ref: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    cancel_reason: str | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None
    command_ids: frozenset[str] = field(default_factory=frozenset)
    # the caller's labels (JobAnnotated): not part of the seed pages' job object
    name: str | None = None
    tags: tuple[str, ...] = ()
    notes: str | None = None

    @property
    def exists(self) -> bool:
        return self.status is not None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def runs_spent(self) -> int:
        """Runs started so far, each one of the max attempts (a state stored before runs
        were counted knows only its attempt number)."""
        return max(len(self.run_ids), self.attempt)


# What an aggregate id's events fold into: a job's or a sweep's state (jobs/sweep_state.py).
Aggregate = JobState | SweepState


def initial_state(aggregate_id: str) -> Aggregate:
    """The state before an aggregate's first event, told apart by the id's prefix."""
    if is_sweep_id(aggregate_id):
        return SweepState(job_id=aggregate_id)
    return JobState(job_id=aggregate_id)
