"""Each chaos invariant holds on a clean hand-made log and fires on an injected violation."""

from __future__ import annotations

import dataclasses

from api.presenters import job_object
from cli.chaos.invariants import (
    Cancel,
    Create,
    InputMessage,
    LogContents,
    check,
    check_view,
    count,
    decision_reasons,
)
from jobs.decider import decide, evolve, initial_state
from jobs.messages import (
    CancelJob,
    Event,
    InputDecided,
    RunCompleted,
    RunStarted,
    SubmitJob,
    WorkerSilent,
)
from tests.jobs.helpers import decide_all
from tests.jobs.test_decider import METRICS

BOUND_MS = 30_000


def _run(job_id: str, *, cancel: bool = False, start_at: int = 1_000,
         end_at: int = 2_000) -> list[Event]:
    """The events of one job: accepted, started, then done (or cancelled)."""
    state = initial_state(job_id)
    events: list[Event] = []
    inputs: list[object] = [
        SubmitJob(command_id=f"c-{job_id}", job_id=job_id, owner="demo", config_json="{}",
                  submitted_at=500, correlation_id=f"req-{job_id}"),
        RunStarted(job_id=job_id, attempt=1, run_id="r1", report_seq=1, worker_id="w",
                   occurred_at=start_at),
    ]
    if cancel:
        inputs.append(CancelJob(command_id=f"x-{job_id}", job_id=job_id, owner="demo",
                                issued_at=end_at, correlation_id="cx"))
    else:
        inputs.append(RunCompleted(job_id=job_id, attempt=1, run_id="r1", report_seq=2,
                                   metrics=METRICS, result_ref=f"{job_id}/1",
                                   occurred_at=end_at))
    return events + decide_all(state, inputs)[1]  # type: ignore[arg-type]


def _clean() -> tuple[LogContents, list[Create], list[Cancel]]:
    events = _run("bt_a") + _run("bt_b", cancel=True)
    inputs, decisions = [], []
    for offset, event in enumerate(events):  # one input per event, decided with it
        topic = "p.commands" if event.seq == 1 or event.job_id == "bt_b" and event.seq == 3 \
            else "p.reports"
        inputs.append(InputMessage(topic, 0, offset, "X", event.job_id))
        decisions.append(InputDecided(event.job_id, topic, 0, offset, "X", "events", "",
                                      [event.seq], "a", 0))
    inputs.append(InputMessage("p.reports", 1, 0, "RunProgressed", "bt_a"))
    decisions.append(InputDecided("bt_a", "p.reports", 1, 0, "RunProgressed", "ignored",
                                  "terminal", [], "a", 0))
    creates = [Create("req-bt_a", None, 201, "bt_a"), Create("req-bt_b", "k", 201, "bt_b"),
               Create("req-x", None, 503, None)]
    cancels = [Cancel("cx", "bt_b", 200)]
    return LogContents(events, inputs, decisions), creates, cancels


def _counts(log: LogContents, creates: list[Create], cancels: list[Cancel],
            now_ms: int = 10_000) -> dict[str, int]:
    return count(check(log, creates, cancels, now_ms, BOUND_MS)[0])


def test_a_clean_log_has_no_violation() -> None:
    log, creates, cancels = _clean()
    assert set(_counts(log, creates, cancels).values()) == {0}
    assert decision_reasons(log.decisions) == {"events": 6, "ignored:terminal": 1}


def test_lost_create() -> None:
    log, creates, cancels = _clean()
    creates.append(Create("req-c", None, 202, "bt_c"))
    assert _counts(log, creates, cancels)["lost"] == 1


def test_false_503() -> None:
    log, creates, cancels = _clean()
    creates.append(Create("req-bt_a", None, 503, None))  # an earlier try of bt_a's request
    assert _counts(log, creates, cancels)["false_503"] == 1


def test_duplicated_seq_and_second_terminal_event() -> None:
    log, creates, cancels = _clean()
    log.events.append(log.events[1])  # JobStarted of bt_a twice
    assert _counts(log, creates, cancels)["duplicated"] == 1
    log, creates, cancels = _clean()
    done = log.events[2]
    log.events.append(dataclasses.replace(done, seq=4, event_id="e4"))  # type: ignore[call-arg]
    counts = _counts(log, creates, cancels)
    assert counts["duplicated"] == 1 and counts["illegal"] == 1


def test_gap() -> None:
    log, creates, cancels = _clean()
    del log.events[1]  # bt_a: seq 1 then 3
    assert _counts(log, creates, cancels)["gaps"] == 1


def test_stuck_without_terminal_event_and_running_too_long() -> None:
    log, creates, cancels = _clean()
    log.events = [e for e in log.events if not (e.job_id == "bt_a" and e.seq == 3)]
    assert _counts(log, creates, cancels)["stuck"] == 1
    long_run = _run("bt_c", start_at=1_000, end_at=1_000 + BOUND_MS + 1)
    log, creates, cancels = _clean()
    log.events += long_run
    assert _counts(log, creates, cancels)["stuck"] == 1


def test_cancel_answered_200_but_job_done() -> None:
    log, creates, cancels = _clean()
    cancels.append(Cancel("cy", "bt_a", 200))
    assert _counts(log, creates, cancels)["cancel_ignored"] == 1
    cancels.append(Cancel("cz", "bt_a", 409))  # refused cancels promise nothing
    assert _counts(log, creates, cancels)["cancel_ignored"] == 1


def test_undecided_input_and_a_decision_naming_missing_events() -> None:
    log, creates, cancels = _clean()
    log.inputs.append(InputMessage("p.commands", 2, 7, "WorkerSilent", "bt_a"))
    assert _counts(log, creates, cancels)["undecided_inputs"] == 1
    log, creates, cancels = _clean()
    log.decisions.append(InputDecided("bt_a", "p.reports", 1, 0, "RunProgressed", "events",
                                      "", [9], "a", 0))
    assert _counts(log, creates, cancels)["decision_mismatch"] == 1


def test_an_input_decided_twice_counts_once() -> None:
    log, creates, cancels = _clean()
    log.decisions.append(log.decisions[0])  # reprocessed after a crash
    assert set(_counts(log, creates, cancels).values()) == {0}
    assert sum(decision_reasons(log.decisions).values()) == len(log.inputs)


def test_view_equal_to_replay_and_one_that_lags() -> None:
    log, creates, cancels = _clean()
    _, states = check(log, creates, cancels, 10_000, BOUND_MS)
    served = {job_id: job_object(state) for job_id, state in states.items()}
    assert check_view("api", served, states) == []
    lagging = dict(served, bt_a={**served["bt_a"], "status": "running"})
    assert [v.kind for v in check_view("api", lagging, states)] == ["view_mismatch"]
    assert len(check_view("api", {}, states)) == 2


def test_worker_silent_inputs_are_inputs_too() -> None:
    log, creates, cancels = _clean()
    tick = WorkerSilent(job_id="bt_a", attempt=1, now=3_000, max_attempts=2)
    assert decide(evolve(initial_state("bt_a"), log.events[0]), tick) == []  # queued: ignored
    log.inputs.append(InputMessage("p.commands", 0, 99, type(tick).__name__, "bt_a"))
    log.decisions.append(InputDecided("bt_a", "p.commands", 0, 99, "WorkerSilent", "ignored",
                                      "not_running", [], "a", 0))
    assert set(_counts(log, creates, cancels).values()) == {0}


def test_time_queued_between_attempts_is_not_running() -> None:
    from cli.chaos.invariants import running_ms
    from jobs.messages import JobRequeued

    accepted, started, done = _run("bt_q", start_at=1_000, end_at=100_000)
    requeued = JobRequeued(event_id="e", job_id="bt_q", seq=3, occurred_at=5_000,
                           causation_id="l", correlation_id="c", attempt=2, reason="silent")
    restarted = dataclasses.replace(started, seq=4, occurred_at=90_000)  # queued 85 s
    finished = dataclasses.replace(done, seq=5)
    events = [accepted, started, requeued, restarted, finished]
    assert running_ms(events, now_ms=200_000) == {"bt_q": 4_000 + 10_000}
    assert running_ms(events[:4], now_ms=95_000) == {"bt_q": 4_000 + 5_000}
    log, creates, cancels = _clean()
    log.events += events
    assert _counts(log, creates, cancels)["stuck"] == 0
