"""The job decider: `decide(state, input) -> events` and `evolve(state, event) -> state`.

Pure functions over frozen dataclasses: no clock, no I/O, no Kafka. Time and ids
come in on the input. The orchestrator, the projections, replay and audit
verification all fold events with this one `evolve`.

State machine (docs/architecture.md, "The decider")::

    (none) -submit-> queued -start-> running -succeed-> done
                       |               |  \\-fail----> failed
                       +-cancel-+      +-cancel-+
                                v               v
                            cancelled       cancelled

Idempotency, so that a redelivered input is harmless:
- a command id already decided (accepted or rejected) yields no event;
- a report of an attempt other than the current one is stale and dropped;
- a run is known by its run id: a RunStarted of a run the job already saw yields
  nothing, and only the run that owns the attempt (the latest started) is heard;
- a RunStarted of the current attempt from a new run while the attempt is running
  means its work item was redelivered (the owning worker died or lost the partition):
  the new run is adopted as the owner (JobStarted again), its predecessor's reports
  are dropped as foreign; every run started spends one of the max attempts, and
  once they are spent the redelivery fails the job with WORKER_LOST
  (docs/architecture.md, "Redelivered runs");
- progress only moves forward, so a repeated progress report yields nothing;
- terminal states absorb everything: commands get CommandRejected(INVALID_STATE),
  reports are dropped; only the caller's labels (AnnotateJob -> JobAnnotated) change
  in any status.
Every event takes the job's next `seq` (gapless, from 1), and its id is
`uuid5(job_id, seq)`, so an event decided twice is recognisably the same event.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from jobs.events import (
    CommandRejected,
    Event,
    JobAccepted,
    JobAnnotated,
    JobCancelled,
    JobFailed,
    JobProgressed,
    JobRequeued,
    JobStarted,
    JobSucceeded,
)
from jobs.messages import (
    AnnotateJob,
    CancelJob,
    CancelSweep,
    ChildFinished,
    Input,
    RunBacktest,
    RunCompleted,
    RunFailed,
    RunProgressed,
    RunStarted,
    SubmitJob,
    SubmitSweep,
    WorkerSilent,
    event_id_for,
)
from jobs.resubmission import resubmitted
from jobs.state import Aggregate as Aggregate
from jobs.state import JobState as JobState
from jobs.state import initial_state as initial_state
from jobs.statuses import RUNNING
from jobs.sweep_decider import decide_sweep, sweep_effects
from jobs.sweep_state import SweepState, sweep_of

# Error codes carried by CommandRejected / JobFailed (the API maps them to HTTP).
NOT_FOUND = "NOT_FOUND"
INVALID_STATE = "INVALID_STATE"
IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
WORKER_LOST = "WORKER_LOST"


def job_not_found(job_id: str) -> str:
    """The NOT_FOUND text, one wording for the decider's rejection and the API's reads."""
    return f"job {job_id} not found"


# ---- decide -----------------------------------------------------------------------

def decide(state: Aggregate, message: Input) -> list[Event]:
    return decide_with_reason(state, message)[0]


def decide_with_reason(state: Aggregate, message: Input) -> tuple[list[Event], str | None]:
    """Events for `message`, and when there are none, why it was ignored; a sweep's
    inputs go to the sweep decider (jobs/sweep_decider.py)."""
    if isinstance(message, SubmitSweep | CancelSweep | ChildFinished):
        if not isinstance(state, SweepState):
            return [], "not_a_sweep"
        return decide_sweep(state, message)
    if not isinstance(state, JobState):
        return [], "not_a_job"
    if isinstance(message, SubmitJob):
        return _submit(state, message)
    if isinstance(message, CancelJob):
        return _cancel(state, message)
    if isinstance(message, AnnotateJob):
        return _annotate(state, message)
    if isinstance(message, WorkerSilent):
        return _worker_silent(state, message)
    return _report(state, message)


class _Emitter:
    """Numbers the events of one decision with the job's next seqs."""

    def __init__(self, state: JobState, job_id: str, at: int, causation: str) -> None:
        self.seq = state.seq
        self.job_id = job_id
        self.at = at
        self.causation = causation
        self.correlation = state.correlation_id or causation

    def env(self, correlation: str | None = None) -> dict[str, Any]:
        self.seq += 1
        return {
            "event_id": event_id_for(self.job_id, self.seq),
            "job_id": self.job_id,
            "seq": self.seq,
            "occurred_at": self.at,
            "causation_id": self.causation,
            "correlation_id": correlation or self.correlation,
        }


def _reject(state: JobState, cmd: SubmitJob | CancelJob | AnnotateJob, at: int, code: str,
            why: str) -> Event:
    emit = _Emitter(state, cmd.job_id, at, cmd.command_id)
    return CommandRejected(
        **emit.env(cmd.correlation_id),
        command_id=cmd.command_id,
        command_type=type(cmd).__name__,
        error_code=code,
        error_message=why,
    )


def _submit(state: JobState, cmd: SubmitJob) -> tuple[list[Event], str | None]:
    if cmd.command_id in state.command_ids:
        return [], "duplicate_command"
    if not state.exists:
        emit = _Emitter(state, cmd.job_id, cmd.submitted_at, cmd.command_id)
        return [JobAccepted(
            **emit.env(cmd.correlation_id),
            owner=cmd.owner,
            config_json=cmd.config_json,
            submitted_at=cmd.submitted_at,
            idempotency_key=cmd.idempotency_key,
            request_hash=cmd.request_hash,
        )], None
    refused = resubmitted(state, cmd, "job")
    if refused is None:
        return [], "idempotent_retry"
    return [_reject(state, cmd, cmd.submitted_at, *refused)], None


def _cancel(state: JobState, cmd: CancelJob) -> tuple[list[Event], str | None]:
    if cmd.command_id in state.command_ids:
        return [], "duplicate_command"
    if not state.exists or state.owner != cmd.owner:
        return [_reject(state, cmd, cmd.issued_at, NOT_FOUND, job_not_found(cmd.job_id))], None
    if state.is_terminal:
        return [_reject(state, cmd, cmd.issued_at, INVALID_STATE,
                        f"job {cmd.job_id} is already {state.status}")], None
    emit = _Emitter(state, cmd.job_id, cmd.issued_at, cmd.command_id)
    return [JobCancelled(**emit.env(), progress=state.progress, reason=cmd.reason)], None


def _annotate(state: JobState, cmd: AnnotateJob) -> tuple[list[Event], str | None]:
    """Labels in any status (a finished job is what people name and tag); the event
    carries the whole new set, a None field of the command keeping the current value."""
    if cmd.command_id in state.command_ids:
        return [], "duplicate_command"
    if not state.exists or state.owner != cmd.owner:
        return [_reject(state, cmd, cmd.issued_at, NOT_FOUND, job_not_found(cmd.job_id))], None
    emit = _Emitter(state, cmd.job_id, cmd.issued_at, cmd.command_id)
    return [JobAnnotated(
        **emit.env(cmd.correlation_id),
        name=state.name if cmd.name is None else (cmd.name or None),
        tags=list(state.tags) if cmd.tags is None else list(cmd.tags),
        notes=state.notes if cmd.notes is None else (cmd.notes or None),
    )], None


def _worker_silent(state: JobState, tick: WorkerSilent) -> tuple[list[Event], str | None]:
    if state.status != RUNNING or tick.attempt != state.attempt:
        return [], "not_running"
    if state.run_started_at is not None and tick.now < state.run_started_at:
        return [], "silence_of_a_superseded_run"  # a run adopted after the tick was sent
    emit = _Emitter(state, state.job_id, tick.now, f"liveness:{state.job_id}:{tick.attempt}")
    if state.runs_spent < tick.max_attempts:
        return [JobRequeued(**emit.env(), attempt=state.attempt + 1,
                            reason=f"no report from worker {state.worker_id} "
                                   f"for attempt {state.attempt}")], None
    return [JobFailed(**emit.env(), attempt=state.attempt, error_code=WORKER_LOST,
                      error_message=f"worker lost on attempt {state.attempt} "
                                    f"({state.runs_spent} runs, max {tick.max_attempts} "
                                    "attempts)")], None


def _report(
    state: JobState, report: RunStarted | RunProgressed | RunCompleted | RunFailed
) -> tuple[list[Event], str | None]:
    if not state.exists:
        return [], "unknown_job"
    if state.is_terminal:
        return [], "terminal"
    if report.attempt != state.attempt:
        return [], "stale_attempt"
    emit = _Emitter(state, report.job_id, report.occurred_at,
                    f"report:{report.run_id}:{report.report_seq}")
    if isinstance(report, RunStarted):
        if report.run_id in state.run_ids:
            return [], "duplicate"
        if state.status == RUNNING and state.runs_spent >= report.max_attempts:
            return [JobFailed(**emit.env(), attempt=report.attempt, error_code=WORKER_LOST,
                              error_message=f"worker lost on attempt {report.attempt}: its "
                                            f"work item was redelivered after "
                                            f"{state.runs_spent} runs (max "
                                            f"{report.max_attempts} attempts)")], None
        # the attempt's first run, or a redelivered work item's run adopted as its owner
        return [JobStarted(**emit.env(), attempt=report.attempt, worker_id=report.worker_id,
                           run_id=report.run_id)], None
    if state.status != RUNNING:
        return [], "not_started"
    if report.run_id != state.run_id:
        return [], "foreign_run"
    if isinstance(report, RunProgressed):
        progress = min(max(report.progress, 0.0), 1.0)
        if progress <= state.progress:
            return [], "no_progress"
        return [JobProgressed(**emit.env(), attempt=report.attempt, progress=progress)], None
    if isinstance(report, RunCompleted):
        return [JobSucceeded(**emit.env(), attempt=report.attempt, metrics=report.metrics,
                             result_ref=report.result_ref)], None
    return [JobFailed(**emit.env(), attempt=report.attempt, error_code=report.error_code,
                      error_message=report.error_message)], None


# ---- evolve -----------------------------------------------------------------------

def evolve(state: Any, event: Event) -> Any:
    """The state after `event`: each event declares its own step (jobs/events.py,
    jobs/sweep_events.py); a job's events evolve a JobState, a sweep's a SweepState."""
    return event.evolve(state)


def fold(events: list[Event], state: Aggregate | None = None) -> Aggregate:
    for event in events:
        state = evolve(state or initial_state(event.job_id), event)
    return state or JobState()


def work_for(state: Aggregate, event: Event) -> RunBacktest | None:
    """The work item an event calls for (after `state` has folded the event)."""
    if event.calls_for_work and isinstance(state, JobState):
        return RunBacktest(job_id=state.job_id, attempt=state.attempt,
                           config_json=state.config_json, issued_at=event.occurred_at,
                           correlation_id=state.correlation_id)
    return None


Effect = RunBacktest | SubmitJob | CancelJob | ChildFinished


def effects_for(state: Aggregate, event: Event) -> Iterator[Effect]:
    """Everything an event calls for besides itself (after `state` has folded it): a job's
    work item; a sweep's commands to its children; a child's terminal status, for its
    sweep. Sent at least once (re-sent by reconciliation), each decided once."""
    if isinstance(state, SweepState):
        yield from sweep_effects(state, event)
        return
    work = work_for(state, event)
    if work is not None:
        yield work
    if isinstance(event, JobSucceeded | JobFailed | JobCancelled):
        found = sweep_of(state.job_id)
        if found is not None:
            yield ChildFinished(sweep_id=found[0], job_id=state.job_id, index=found[1],
                                status=str(state.status), finished_at=event.occurred_at,
                                metrics=state.metrics)
