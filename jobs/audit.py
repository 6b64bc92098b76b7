"""Audit of the event log: would the state machine have produced these events?

Pure: takes the events of the log (in log order) and returns findings. Used by
`pipai replay --verify`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from jobs.decider import Aggregate, evolve, initial_state
from jobs.events import EVENTS, Event

# The statuses each event may follow (None: the job does not exist yet), as each event
# declares them (jobs/events.py).
ALLOWED_FROM: dict[type[Event], frozenset[str | None]] = {
    cls: cls.follows for cls in EVENTS.values()
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
    states: dict[str, Aggregate]

    @property
    def clean(self) -> bool:
        return not self.findings


def verify(events: Iterable[Event]) -> AuditReport:
    states: dict[str, Aggregate] = {}
    seen: dict[tuple[str, int], Event] = {}
    findings: list[Finding] = []
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
        illegal = _illegal(state, event)
        if illegal:
            findings.append(Finding(event.job_id, event.seq, "illegal_transition", illegal))
        states[event.job_id] = evolve(state, event)
    return AuditReport(count, len(states), duplicates, findings, states)


def _illegal(state: Aggregate, event: Event) -> str | None:
    """Why `event` may not follow `state`, or None when it may."""
    allowed = ALLOWED_FROM.get(type(event))
    if allowed is None:  # not a registered event: no rule allows it
        return f"{type(event).__name__} is not a known event"
    if state.status not in allowed:
        return f"{type(event).__name__} from {state.status}"
    return None
