"""What the decider makes of a run of inputs, for tests that need a log to work on."""

from __future__ import annotations

from collections.abc import Iterable

from jobs.decider import JobState, decide, evolve
from jobs.messages import Event, Input


def decide_all(state: JobState, inputs: Iterable[Input]) -> tuple[JobState, list[Event]]:
    """Decide each input in order, folding its events: (the final state, all the events)."""
    events: list[Event] = []
    for message in inputs:
        for event in decide(state, message):
            state = evolve(state, event)
            events.append(event)
    return state, events
