"""`jobs.audit.verify` with no broker: a clean log, duplicates, gaps, illegal transitions,
and an event the rules do not know, reported rather than crashing the audit."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from jobs.audit import ALLOWED_FROM, verify
from jobs.decider import initial_state
from jobs.events import Event
from jobs.messages import (
    CancelJob,
    Input,
    JobSucceeded,
    Metrics,
    RunCompleted,
    RunProgressed,
    RunStarted,
    SubmitJob,
)
from jobs.statuses import DONE, QUEUED
from tests.jobs.helpers import decide_all

METRICS = Metrics(total_trades=0, avg_trade_duration_seconds=0)


def log_of(job_id: str, *inputs: Input) -> list[Event]:
    """The events the decider makes of `inputs`, in order."""
    return decide_all(initial_state(job_id), inputs)[1]


def a_job_run(job_id: str) -> list[Event]:
    return log_of(
        job_id,
        SubmitJob("s1", job_id, "alice", "{}", 1_000, "s1"),
        RunStarted(job_id, 1, "r1", 1, "w1", 2_000),
        RunProgressed(job_id, 1, "r1", 2, 0.5, 3_000),
        RunCompleted(job_id, 1, "r1", 3, METRICS, f"{job_id}/1", 4_000),
        CancelJob("x1", job_id, "alice", 5_000, "x1"),  # too late: CommandRejected
    )


def test_a_clean_log_has_no_findings() -> None:
    log = a_job_run("bt_1") + a_job_run("bt_2")
    report = verify(log)
    assert report.clean, report.findings
    assert (report.events, report.jobs, report.duplicates) == (10, 2, 0)
    assert report.states["bt_1"].status == DONE


def test_an_event_out_of_order_is_a_gap() -> None:
    accepted, started, *rest = a_job_run("bt_1")
    report = verify([accepted, *rest, started])
    assert [(f.kind, f.seq) for f in report.findings][:2] == [("gap", 3), ("illegal_transition", 3)]


def test_an_event_from_a_status_it_may_not_follow_is_illegal() -> None:
    accepted, *_ = a_job_run("bt_1")
    succeeded = JobSucceeded(**{f.name: getattr(accepted, f.name)
                                for f in dataclasses.fields(Event)} | {"seq": 2},
                             attempt=1, metrics=METRICS, result_ref="bt_1/1")
    report = verify([accepted, succeeded])
    assert [(f.kind, f.detail) for f in report.findings] == [
        ("illegal_transition", f"JobSucceeded from {QUEUED}")]


def test_a_duplicate_and_a_conflicting_duplicate_are_told_apart() -> None:
    log = a_job_run("bt_1")
    conflicting = dataclasses.replace(log[1], worker_id="w2")
    report = verify([*log[:2], log[1], conflicting, *log[2:]])
    assert report.duplicates == 2
    assert [f.kind for f in report.findings] == ["duplicate", "conflicting_duplicate"]


@dataclass(frozen=True, slots=True)
class JobPaused(Event):  # an event no rule knows (not registered with @event)
    reason: str


def test_an_event_unknown_to_the_rules_is_reported_not_a_crash() -> None:
    accepted, *_ = a_job_run("bt_1")
    paused = JobPaused(**{f.name: getattr(accepted, f.name)
                          for f in dataclasses.fields(Event)} | {"seq": 2}, reason="lunch")
    report = verify([accepted, paused])
    assert [(f.kind, f.seq, f.detail) for f in report.findings] == [
        ("illegal_transition", 2, "JobPaused is not a known event")]
    assert report.states["bt_1"].seq == 2  # folded as far as its envelope: no gap follows


def test_every_registered_event_has_its_rule() -> None:
    assert all(ALLOWED_FROM[cls] for cls in ALLOWED_FROM)
