"""The sweep decider: `decide_sweep(state, input) -> events`, and the commands a sweep's
events call for (`sweep_effects`), pure like the job decider (jobs/decider.py).

A sweep is accepted with its request (validated by the API, child by child); its
acceptance calls for one SubmitJob per child, with ids derived from the sweep's
(`jobs.sweep_state.child_job_id`) and command ids derived from the child's index, so
re-sending them after a crash decides nothing twice. Every child's terminal event comes
back as a ChildFinished input, heard once per child (a bit per index): it is recorded
(SweepChildFinished), may improve the best by the objective (SweepBestImproved), may run
out the patience (SweepStoppedEarly: the unfinished children are cancelled) and, for the
last child, ends the sweep (SweepCompleted). A cancel ends it at once (SweepCancelled) and
cancels the children not heard of yet; a child that ended meanwhile refuses its cancel.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from jobs.events import CommandRejected, Event
from jobs.messages import (
    CancelJob,
    CancelSweep,
    ChildFinished,
    SubmitJob,
    SubmitSweep,
    SweepInput,
    event_id_for,
)
from jobs.resubmission import resubmitted
from jobs.statuses import CANCELLED, DONE, FAILED
from jobs.sweep_events import (
    NO_CHOICE,
    SweepAccepted,
    SweepBestImproved,
    SweepCancelled,
    SweepChildFinished,
    SweepCompleted,
    SweepStoppedEarly,
    SweepWindowChosen,
    SweepWindowImproved,
)
from jobs.sweep_space import (
    SweepSpec,
    child_config,
    combo_of,
    improves,
    objective_value,
    satisfies,
    spec_of,
    window_test_config,
)
from jobs.sweep_state import SweepState, child_job_id

NOT_FOUND = "NOT_FOUND"
INVALID_STATE = "INVALID_STATE"
IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"


def sweep_not_found(sweep_id: str) -> str:
    return f"sweep {sweep_id} not found"


class _Seqs:
    """Numbers the events of one decision with the sweep's next seqs."""

    def __init__(self, state: SweepState, sweep_id: str, at: int, causation: str,
                 correlation: str | None = None) -> None:
        self.seq, self.sweep_id, self.at, self.causation = state.seq, sweep_id, at, causation
        self.correlation = correlation or state.correlation_id or causation

    def env(self) -> dict[str, Any]:
        self.seq += 1
        return {"event_id": event_id_for(self.sweep_id, self.seq), "job_id": self.sweep_id,
                "seq": self.seq, "occurred_at": self.at, "causation_id": self.causation,
                "correlation_id": self.correlation}


def decide_sweep(state: SweepState, message: SweepInput) -> tuple[list[Event], str | None]:
    """Events for `message`, and when there are none, why it was ignored."""
    if isinstance(message, SubmitSweep):
        return _submit(state, message)
    if isinstance(message, CancelSweep):
        return _cancel(state, message)
    return _child_finished(state, message)


def _reject(state: SweepState, cmd: SubmitSweep | CancelSweep, at: int, code: str,
            why: str) -> Event:
    seqs = _Seqs(state, cmd.sweep_id, at, cmd.command_id, cmd.correlation_id)
    return CommandRejected(**seqs.env(), command_id=cmd.command_id,
                           command_type=type(cmd).__name__, error_code=code,
                           error_message=why)


def _submit(state: SweepState, cmd: SubmitSweep) -> tuple[list[Event], str | None]:
    if cmd.command_id in state.command_ids:
        return [], "duplicate_command"
    if not state.exists:
        seqs = _Seqs(state, cmd.sweep_id, cmd.submitted_at, cmd.command_id,
                     cmd.correlation_id)
        return [SweepAccepted(**seqs.env(), owner=cmd.owner, config_json=cmd.config_json,
                              submitted_at=cmd.submitted_at,
                              total=spec_of(cmd.config_json).total,
                              idempotency_key=cmd.idempotency_key,
                              request_hash=cmd.request_hash)], None
    refused = resubmitted(state, cmd, "sweep")
    if refused is None:
        return [], "idempotent_retry"
    return [_reject(state, cmd, cmd.submitted_at, *refused)], None


def _cancel(state: SweepState, cmd: CancelSweep) -> tuple[list[Event], str | None]:
    if cmd.command_id in state.command_ids:
        return [], "duplicate_command"
    if not state.exists or state.owner != cmd.owner:
        return [_reject(state, cmd, cmd.issued_at, NOT_FOUND,
                        sweep_not_found(cmd.sweep_id))], None
    if state.is_terminal:
        return [_reject(state, cmd, cmd.issued_at, INVALID_STATE,
                        f"sweep {cmd.sweep_id} is already {state.status}")], None
    seqs = _Seqs(state, cmd.sweep_id, cmd.issued_at, cmd.command_id, cmd.correlation_id)
    return [SweepCancelled(**seqs.env(), reason=cmd.reason)], None


def _child_finished(state: SweepState,
                    note: ChildFinished) -> tuple[list[Event], str | None]:
    if not state.exists:
        return [], "unknown_sweep"
    if note.status not in (DONE, FAILED, CANCELLED) or not 0 <= note.index < state.total:
        return [], "not_a_child"
    if state.heard(note.index):
        return [], "duplicate"
    seqs = _Seqs(state, note.sweep_id, note.finished_at, f"child:{note.job_id}")
    finished = SweepChildFinished(**seqs.env(), child_job_id=note.job_id, index=note.index,
                                  status=note.status, metrics=note.metrics)
    events: list[Event] = [finished]
    after = finished.evolve(state)
    spec = spec_of(state.config_json)
    combo = combo_of(spec, note.index)  # None: a walk-forward test run, never ranked
    value = None
    if combo is not None and note.status == DONE and _satisfied(spec, note):
        assert note.metrics is not None
        value = objective_value(spec, note.metrics.as_dict())
    if value is not None and improves(spec, value, after.best_value):
        assert note.metrics is not None
        best = SweepBestImproved(**seqs.env(), child_job_id=note.job_id,
                                 index=note.index, objective=value, metrics=note.metrics)
        events.append(best)
        after = best.evolve(after)
    if spec.walk_forward is not None and combo is not None:
        window = spec.walk_forward.locate(note.index)[0]
        if value is not None and improves(spec, value, after.window_value[window]):
            improved = SweepWindowImproved(**seqs.env(), window=window, index=note.index,
                                           objective=value)
            events.append(improved)
            after = improved.evolve(after)
        if after.window_left[window] == 0 and not after.is_terminal:
            best_index = after.window_best[window]
            chosen = SweepWindowChosen(**seqs.env(), window=window,
                                       index=NO_CHOICE if best_index is None else best_index)
            events.append(chosen)
            after = chosen.evolve(after)
    if after.is_terminal:
        return events, None
    if after.finished_count == after.total:
        events.append(SweepCompleted(**seqs.env(), status=_final_status(after)))
    elif (spec.patience is not None and not after.stopped_early
          and after.since_best >= spec.patience):
        events.append(SweepStoppedEarly(**seqs.env(), patience=spec.patience))
    return events, None


def _satisfied(spec: SweepSpec, note: ChildFinished) -> bool:
    return note.metrics is not None and satisfies(spec, note.metrics.as_dict())


def _final_status(state: SweepState) -> str:
    """done if any child is done; cancelled if every child was; else failed."""
    if state.done:
        return DONE
    return CANCELLED if state.cancelled == state.total else FAILED


# ---- what a sweep's events call for ------------------------------------------------

def sweep_effects(state: SweepState,
                  event: Event) -> Iterator[SubmitJob | CancelJob | ChildFinished]:
    """The commands an event of the sweep calls for (after `state` has folded it)."""
    if isinstance(event, SweepAccepted):
        spec = spec_of(state.config_json)
        for index in range(spec.combos if spec.walk_forward is None
                           else spec.walk_forward.training_children):
            yield _submit_child(state, index, child_config(spec, index), event.submitted_at)
    elif isinstance(event, SweepWindowChosen):
        spec = spec_of(state.config_json)
        assert spec.walk_forward is not None
        test = spec.walk_forward.test_index(event.window)
        if event.index == NO_CHOICE:  # no training child qualified: no test run
            yield _never_ran(state, test, event.occurred_at)
        else:
            combo = combo_of(spec, event.index)
            assert combo is not None
            yield _submit_child(state, test, window_test_config(spec, event.window, combo),
                                event.occurred_at)
    elif isinstance(event, SweepCancelled | SweepStoppedEarly):
        reason = (f"sweep {state.sweep_id} stopped early" if isinstance(event, SweepStoppedEarly)
                  else f"sweep {state.sweep_id} cancelled")
        plan = spec_of(state.config_json).walk_forward
        for index in state.unfinished():
            if plan is not None and index >= plan.training_children and not state.chose(
                    plan.locate(index)[0]):
                yield _never_ran(state, index, event.occurred_at)  # its window never chose
                continue
            yield CancelJob(command_id=f"{state.sweep_id}/cancel/{index}",
                            job_id=child_job_id(state.sweep_id, index), owner=state.owner,
                            issued_at=event.occurred_at, correlation_id=state.correlation_id,
                            reason=reason)


def _submit_child(state: SweepState, index: int, config: dict[str, Any],
                  at: int) -> SubmitJob:
    return SubmitJob(command_id=f"{state.sweep_id}/submit/{index}",
                     job_id=child_job_id(state.sweep_id, index), owner=state.owner,
                     config_json=orjson.dumps(config).decode(), submitted_at=at,
                     correlation_id=state.correlation_id)


def _never_ran(state: SweepState, index: int, at: int) -> ChildFinished:
    """A walk-forward test child that will never be submitted ends as cancelled, heard
    by the sweep like any child's end, so its counts add up (it has no job)."""
    return ChildFinished(sweep_id=state.sweep_id, job_id=child_job_id(state.sweep_id, index),
                         index=index, status=CANCELLED, finished_at=at)
