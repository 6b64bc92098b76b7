"""A sweep's events, declared like a job's (jobs/events.py): each with the statuses it may
follow and the change it makes to the `SweepState` (docs/api.md, "Sweeps").

The envelope's `job_id` is the sweep id; `@event` registers them in the same `EVENTS`, so
the codec's message types, the audit's allowed transitions and `evolve` know them. What a
sweep event calls for (its children's commands) is `jobs.sweep_decider.sweep_effects`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from jobs.events import Event, event
from jobs.metrics import Metrics
from jobs.statuses import CANCELLED, DONE, FAILED, QUEUED, RUNNING, STATUSES
from jobs.sweep_space import SweepSpecError, spec_of
from jobs.sweep_state import SweepState
from jobs.walk_forward import WalkForward

_COUNTED = {DONE: "done", FAILED: "failed", CANCELLED: "cancelled"}


@dataclass(frozen=True, slots=True)
class SweepEvent(Event):
    """The base of a sweep's events: they evolve a `SweepState`."""

    def evolve(self, state: Any) -> Any:
        return self._next(state)

    def _next(self, state: Any, **changes: Any) -> Any:
        return dataclasses.replace(state, job_id=self.job_id, seq=self.seq, **changes)


@event(follows={None})
@dataclass(frozen=True, slots=True)
class SweepAccepted(SweepEvent):
    owner: str
    config_json: str
    submitted_at: int
    total: int
    idempotency_key: str | None = None
    request_hash: str | None = None

    def evolve(self, state: SweepState) -> SweepState:
        plan = _plan(self.config_json)
        windows = () if plan is None else tuple(plan.combos for _ in plan.windows)
        nothing: tuple[None, ...] = tuple(None for _ in windows)
        return self._next(
            state, window_left=windows, window_best=nothing, window_value=nothing,
            window_chosen=nothing, status=QUEUED, owner=self.owner, config_json=self.config_json,
            correlation_id=self.correlation_id, submitted_at=self.submitted_at,
            total=self.total, idempotency_key=self.idempotency_key,
            request_hash=self.request_hash, command_ids=state.command_ids | {self.causation_id})


@event(follows=STATUSES)  # a child may end after its sweep did (a cancel racing its finish)
@dataclass(frozen=True, slots=True)
class SweepChildFinished(SweepEvent):
    child_job_id: str
    index: int
    status: str
    metrics: Metrics | None = None

    def evolve(self, state: SweepState) -> SweepState:
        counted = _COUNTED[self.status]
        changes: dict[str, Any] = {counted: getattr(state, counted) + 1,
                                   "finished": state.finished | 1 << self.index,
                                   "since_best": state.since_best + 1}
        if state.status == QUEUED:
            changes |= {"status": RUNNING, "started_at": self.occurred_at}
        if state.window_left:
            plan = _plan(state.config_json)
            assert plan is not None
            window, combo = plan.locate(self.index)
            if combo is not None:  # a training child: one fewer for its window
                left = state.window_left
                changes["window_left"] = _put(left, window, left[window] - 1)
        return self._next(state, **changes)


@event(follows={RUNNING, DONE, FAILED, CANCELLED})
@dataclass(frozen=True, slots=True)
class SweepBestImproved(SweepEvent):
    child_job_id: str
    index: int
    objective: float
    metrics: Metrics

    def evolve(self, state: SweepState) -> SweepState:
        return self._next(state, best_job_id=self.child_job_id, best_index=self.index,
                          best_value=self.objective, best_metrics=self.metrics, since_best=0)


@event(follows={RUNNING, DONE, FAILED, CANCELLED})
@dataclass(frozen=True, slots=True)
class SweepWindowImproved(SweepEvent):
    """A walk-forward window's training child beat that window's best."""

    window: int
    index: int
    objective: float

    def evolve(self, state: SweepState) -> SweepState:
        return self._next(state, window_best=_put(state.window_best, self.window, self.index),
                          window_value=_put(state.window_value, self.window, self.objective))


@event(follows={RUNNING})
@dataclass(frozen=True, slots=True)
class SweepWindowChosen(SweepEvent):
    """Every training child of a window is heard: its best (index; NO_CHOICE when none
    qualified) is re-run on the test span (jobs.sweep_decider.sweep_effects)."""

    window: int
    index: int

    def evolve(self, state: SweepState) -> SweepState:
        return self._next(state,
                          window_chosen=_put(state.window_chosen, self.window, self.index))


NO_CHOICE = -1


def _put(values: tuple[Any, ...], at: int, value: Any) -> tuple[Any, ...]:
    return values[:at] + (value,) + values[at + 1:]


def _plan(config_json: str) -> WalkForward | None:
    """The request's walk-forward plan. A fold never fails on a request the API would
    have refused (the log is read by tools that do not validate): such a sweep has none."""
    try:
        return spec_of(config_json).walk_forward
    except (SweepSpecError, ValueError):
        return None


@event(follows={RUNNING})
@dataclass(frozen=True, slots=True)
class SweepStoppedEarly(SweepEvent):
    patience: int

    def evolve(self, state: SweepState) -> SweepState:
        return self._next(state, stopped_early=True)


@event(follows={RUNNING})
@dataclass(frozen=True, slots=True)
class SweepCompleted(SweepEvent):
    status: str  # done (at least one child done), failed, or cancelled (every child was)

    def evolve(self, state: SweepState) -> SweepState:
        return self._next(state, status=self.status, finished_at=self.occurred_at)


@event(follows={QUEUED, RUNNING})
@dataclass(frozen=True, slots=True)
class SweepCancelled(SweepEvent):
    reason: str | None = None

    def evolve(self, state: SweepState) -> SweepState:
        return self._next(state, status=CANCELLED, finished_at=self.occurred_at,
                          cancel_reason=self.reason,
                          command_ids=state.command_ids | {self.causation_id})
