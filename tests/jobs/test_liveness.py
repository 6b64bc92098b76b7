"""LivenessTracker: silent attempts, heartbeats, re-seeding after a restart."""

from __future__ import annotations

import dataclasses

from jobs.decider import JobState
from jobs.liveness import LivenessTracker
from jobs.statuses import QUEUED, RUNNING


def running(job_id: str, attempt: int = 1) -> JobState:
    return JobState(job_id=job_id, status=RUNNING, attempt=attempt)


def test_silent_after_timeout_once_per_timeout() -> None:
    tracker = LivenessTracker(timeout_ms=1000)
    tracker.observe(running("a"), now_ms=0, heard=True)
    assert tracker.silent(999) == []
    assert tracker.silent(1000) == [("a", 1)]
    assert tracker.silent(1500) == []  # reported once per timeout
    assert tracker.silent(2000) == [("a", 1)]


def test_reports_are_heartbeats_and_non_running_jobs_are_forgotten() -> None:
    tracker = LivenessTracker(timeout_ms=1000)
    tracker.observe(running("a"), 0, heard=True)
    tracker.observe(running("a"), 900, heard=True)
    assert tracker.silent(1500) == []
    tracker.observe(dataclasses.replace(running("a"), status=QUEUED), 1600, heard=False)
    assert len(tracker) == 0 and tracker.silent(10_000) == []


def test_a_new_attempt_restarts_the_clock() -> None:
    tracker = LivenessTracker(timeout_ms=1000)
    tracker.observe(running("a", 1), 0, heard=True)
    tracker.observe(running("a", 2), 800, heard=False)
    assert tracker.silent(1200) == []
    assert tracker.silent(1800) == [("a", 2)]


def test_reseed_gives_unknown_running_jobs_a_grace_period_and_drops_others() -> None:
    tracker = LivenessTracker(timeout_ms=1000)
    tracker.observe(running("known"), 0, heard=True)
    tracker.observe(running("gone"), 0, heard=True)
    tracker.reseed([running("known"), running("new"), JobState(job_id="q", status=QUEUED)], 500)
    assert tracker.silent(1000) == [("known", 1)]
    assert tracker.silent(1499) == []
    assert tracker.silent(1500) == [("new", 1)]
    assert len(tracker) == 2
