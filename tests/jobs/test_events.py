"""The event registry is the one declaration the rest reads: the message types, the audit's
rules and the work an event calls for come from it; `Metrics` matches the metric names."""

from __future__ import annotations

import dataclasses
import typing

from jobs.decider import evolve, initial_state, work_for
from jobs.events import EVENTS, Event, JobAccepted, JobRequeued
from jobs.messages import MESSAGE_TYPES, Metrics
from jobs.metric_names import DECIMAL_METRICS, INT_METRICS, METRIC_NAMES
from tests.schemas.samples import SAMPLES


def test_every_event_class_in_jobs_is_registered_and_a_message_type() -> None:
    def below(cls: type) -> list[type]:
        return [c for sub in cls.__subclasses__() for c in (sub, *below(sub))]

    bases = {"SweepEvent"}  # a sweep's events share it; it is no event itself
    declared = {cls.__name__ for cls in below(Event)
                if cls.__module__.startswith("jobs.") and cls.__name__ not in bases}
    assert declared == set(EVENTS)
    assert set(EVENTS) <= set(MESSAGE_TYPES)


def test_only_accepting_and_requeueing_call_for_work() -> None:
    calling = {cls for cls in EVENTS.values() if cls.calls_for_work}
    assert calling == {JobAccepted, JobRequeued}
    for name, cls in EVENTS.items():
        event = SAMPLES[name]
        work = work_for(evolve(initial_state(event.job_id), event), event)
        assert (work is not None) == (cls in calling), name


def test_every_event_moves_the_state_to_its_seq() -> None:
    for name in EVENTS:
        event = SAMPLES[name]
        state = evolve(initial_state(event.job_id), event)
        assert (state.job_id, state.seq) == (event.job_id, event.seq), name


def test_metrics_fields_are_the_metric_names() -> None:
    hints = typing.get_type_hints(Metrics)
    assert tuple(f.name for f in dataclasses.fields(Metrics)) == METRIC_NAMES
    assert all(hints[name] == str | None for name in DECIMAL_METRICS)
    assert all(hints[name] is int for name in INT_METRICS)
