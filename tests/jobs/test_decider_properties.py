"""Property tests: random interleavings of commands, reports, duplicates and stale reports."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.decider import decide, evolve, fold, initial_state
from jobs.messages import (
    CancelJob,
    JobStarted,
    Metrics,
    RunCompleted,
    RunFailed,
    RunProgressed,
    RunStarted,
    SubmitJob,
    WorkerSilent,
)
from jobs.statuses import TERMINAL

JOB = "bt_p"
METRICS = Metrics(total_trades=0, avg_trade_duration_seconds=0)  # every decimal undefined
MAX_ATTEMPTS = 3


@st.composite
def inputs(draw: st.DrawFn) -> object:
    attempt = draw(st.integers(1, 3))
    run = draw(st.sampled_from(["r1", "r2", "r3", "r4", "r5"]))
    seq = draw(st.integers(1, 20))
    at = draw(st.integers(0, 10**6))
    kind = draw(st.sampled_from(["submit", "cancel", "start", "progress", "complete", "fail",
                                 "silent"]))
    cid = draw(st.sampled_from(["c1", "c2", "c3", "c4"]))  # small pool: many duplicates
    if kind == "submit":
        return SubmitJob(cid, JOB, "alice", "{}", at, cid)
    if kind == "cancel":
        return CancelJob(cid, JOB, draw(st.sampled_from(["alice", "bob"])), at, cid)
    if kind == "start":
        return RunStarted(JOB, attempt, run, seq, "w", at, MAX_ATTEMPTS)
    if kind == "progress":
        return RunProgressed(JOB, attempt, run, seq, draw(st.floats(0, 1)), at)
    if kind == "complete":
        return RunCompleted(JOB, attempt, run, seq, METRICS, "ref", at)
    if kind == "fail":
        return RunFailed(JOB, attempt, run, seq, "E", "m", at)
    return WorkerSilent(JOB, attempt, at, MAX_ATTEMPTS)


@settings(max_examples=400, deadline=None)
@given(st.lists(inputs(), max_size=40))
def test_log_invariants(messages: list[object]) -> None:
    state = initial_state(JOB)
    log = []
    terminal_at = None
    for message in messages:
        events = decide(state, message)  # type: ignore[arg-type]
        for event in events:
            state = evolve(state, event)
            log.append(event)
        if state.status in TERMINAL and terminal_at is None:
            terminal_at = (state.status, state.finished_at, state.metrics)
        if terminal_at is not None:  # terminal states are never left, nor changed
            assert (state.status, state.finished_at, state.metrics) == terminal_at
        # a message delivered twice in a row never yields new events the second time
        assert decide(state, message) == []  # type: ignore[arg-type]
    assert [e.seq for e in log] == list(range(1, len(log) + 1))  # gapless from 1
    # every run started spends an attempt: never more runs than the budget
    assert sum(isinstance(e, JobStarted) for e in log) <= MAX_ATTEMPTS
    assert len({e.event_id for e in log}) == len(log)
    assert fold(log) == state if log else state == initial_state(JOB)
    assert 0.0 <= state.progress <= 1.0


@settings(max_examples=400, deadline=None)
@given(st.lists(inputs(), max_size=40), st.data())
def test_an_input_that_was_decided_decides_nothing_when_redelivered_later(
        messages: list[object], data: st.DataObject) -> None:
    """At-least-once delivery may hand any decided input over again, much later."""
    state = initial_state(JOB)
    decided = []
    for message in messages:
        events = decide(state, message)  # type: ignore[arg-type]
        for event in events:
            state = evolve(state, event)
        if events:
            decided.append(message)
        if decided:
            again = data.draw(st.sampled_from(decided))
            assert decide(state, again) == []  # type: ignore[arg-type]
