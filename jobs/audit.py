"""Audit of the event log: would the state machine have produced these events?

Pure: takes the events of the log (in log order) and returns findings. Used by
`pipai replay --verify`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from jobs.decider import JobState, evolve, initial_state
from jobs.messages import (
    CommandRejected,
    Event,
    JobAccepted,
    JobCancelled,
    JobFailed,
    JobProgressed,
    JobRequeued,
    JobStarted,
    JobSucceeded,
)
from jobs.statuses import QUEUED, RUNNING

# The statuses each event may follow (None: the job does not exist yet).
ALLOWED_FROM: dict[type, frozenset[str | None]] = {
    JobAccepted: frozenset({None}),
    JobStarted: frozenset({QUEUED, RUNNING}),  # RUNNING: a redelivered run adopted
    JobProgressed: frozenset({RUNNING}),
    JobSucceeded: frozenset({RUNNING}),
    JobFailed: frozenset({RUNNING}),
    JobCancelled: frozenset({QUEUED, RUNNING}),
    JobRequeued: frozenset({RUNNING}),
    CommandRejected: frozenset({None, QUEUED, RUNNING, "done", "failed", "cancelled"}),
}


@dataclass(frozen=True)
class Finding:
    job_id: str
    seq: int
    kind: str  # duplicate | conflicting_duplicate | gap | illegal_transition
    detail: str


@dataclass
class AuditReport:
    events: int
    jobs: int
    duplicates: int
    findings: list[Finding]
    states: dict[str, JobState]

    @property
    def clean(self) -> bool:
        return not self.findings


def verify(events: Iterable[Event]) -> AuditReport:
    states: dict[str, JobState] = {}
    seen: dict[tuple[str, int], Event] = {}
    findings: list[Finding] = []
    per_job: dict[str, int] = defaultdict(int)
    count = duplicates = 0
    for event in events:
        count += 1
        key = (event.job_id, event.seq)
        if key in seen:
            duplicates += 1
            if seen[key] != event:
                findings.append(Finding(event.job_id, event.seq, "conflicting_duplicate",
                                        f"{type(seen[key]).__name__} vs {type(event).__name__}"))
            else:
                findings.append(Finding(event.job_id, event.seq, "duplicate",
                                        f"{type(event).__name__} appears twice"))
            continue
        seen[key] = event
        state = states.get(event.job_id) or initial_state(event.job_id)
        if event.seq != state.seq + 1:
            findings.append(Finding(event.job_id, event.seq, "gap",
                                    f"expected seq {state.seq + 1}"))
        allowed = ALLOWED_FROM[type(event)]
        if state.status not in allowed:
            findings.append(Finding(event.job_id, event.seq, "illegal_transition",
                                    f"{type(event).__name__} from {state.status}"))
        states[event.job_id] = evolve(state, event)
        per_job[event.job_id] += 1
    return AuditReport(count, len(states), duplicates, findings, states)
