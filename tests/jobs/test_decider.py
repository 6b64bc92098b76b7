"""The decider with no broker: every transition, rejections, idempotency, terminal absorption."""

from __future__ import annotations

from jobs.decider import (
    IDEMPOTENCY_CONFLICT,
    INVALID_STATE,
    NOT_FOUND,
    WORKER_LOST,
    JobState,
    decide,
    decide_with_reason,
    evolve,
    fold,
    initial_state,
    work_for,
)
from jobs.messages import (
    AnnotateJob,
    CancelJob,
    CommandRejected,
    JobAccepted,
    JobAnnotated,
    JobCancelled,
    JobFailed,
    JobProgressed,
    JobRequeued,
    JobStarted,
    JobSucceeded,
    Metrics,
    RunBacktest,
    RunCompleted,
    RunFailed,
    RunProgressed,
    RunStarted,
    SubmitJob,
    WorkerSilent,
    event_id_for,
)
from jobs.statuses import CANCELLED, DONE, FAILED, QUEUED, RUNNING

JOB = "bt_1"
METRICS = Metrics(sharpe="1.2", sortino="1.5", calmar="0.9", max_drawdown="-0.1", win_rate="0.6",
                  profit_factor="1.8", cagr="0.2", expected_value="12.5", total_trades=10,
                  avg_trade_duration_seconds=3600)


def submit(cid: str = "c1", owner: str = "alice", key: str | None = None,
           body_hash: str | None = None) -> SubmitJob:
    return SubmitJob(cid, JOB, owner, '{"template_id":"tpl_grid"}', 1000, cid, key, body_hash)


def cancel(cid: str = "x1", owner: str = "alice", reason: str | None = None) -> CancelJob:
    return CancelJob(cid, JOB, owner, 5000, cid, reason)


def started(attempt: int = 1, run: str = "r1", seq: int = 1, at: int = 2000,
            max_attempts: int = 3) -> RunStarted:
    return RunStarted(JOB, attempt, run, seq, "w1", at, max_attempts)


def progressed(p: float, attempt: int = 1, run: str = "r1", seq: int = 2) -> RunProgressed:
    return RunProgressed(JOB, attempt, run, seq, p, 3000)


def completed(attempt: int = 1, run: str = "r1", seq: int = 3) -> RunCompleted:
    return RunCompleted(JOB, attempt, run, seq, METRICS, f"{JOB}/{attempt}", 4000)


def step(state: JobState, message: object) -> tuple[JobState, list]:
    events = decide(state, message)  # type: ignore[arg-type]
    for event in events:
        state = evolve(state, event)
    return state, events


def run_to(*messages: object) -> JobState:
    state = initial_state(JOB)
    for message in messages:
        state, _ = step(state, message)
    return state


def test_submit_accepts_and_queues_with_work() -> None:
    state, events = step(initial_state(JOB), submit())
    assert [type(e) for e in events] == [JobAccepted]
    assert events[0].seq == 1 and events[0].event_id == event_id_for(JOB, 1)
    assert state.status == QUEUED and state.attempt == 1 and state.owner == "alice"
    work = work_for(state, events[0])
    assert isinstance(work, RunBacktest) and work.attempt == 1


def test_happy_path_to_done_with_gapless_seq() -> None:
    state = initial_state(JOB)
    seqs = []
    for message in (submit(), started(), progressed(0.5), completed()):
        state, events = step(state, message)
        seqs += [e.seq for e in events]
    assert seqs == [1, 2, 3, 4]
    assert state.status == DONE and state.progress == 1.0 and state.metrics == METRICS
    assert state.started_at == 2000 and state.finished_at == 4000


def test_failure_report_fails_the_job() -> None:
    state, events = step(run_to(submit(), started()),
                         RunFailed(JOB, 1, "r1", 2, "NO_DATA", "no bars", 2500))
    assert isinstance(events[0], JobFailed)
    assert state.status == FAILED and state.error_code == "NO_DATA" and state.finished_at == 2500


def test_cancel_queued_job_keeps_started_at_null() -> None:
    state, events = step(run_to(submit()), cancel(reason="because"))
    assert isinstance(events[0], JobCancelled) and events[0].reason == "because"
    assert state.status == CANCELLED and state.started_at is None and state.finished_at == 5000


def test_cancel_running_job_records_progress() -> None:
    state, events = step(run_to(submit(), started(), progressed(0.34)), cancel())
    assert isinstance(events[0], JobCancelled) and events[0].progress == 0.34
    assert state.status == CANCELLED and state.progress == 0.34


def test_cancel_of_terminal_job_is_rejected_invalid_state() -> None:
    for terminal in (run_to(submit(), cancel("x0")), run_to(submit(), started(), completed())):
        state, events = step(terminal, cancel("x9"))
        assert isinstance(events[0], CommandRejected)
        assert events[0].error_code == INVALID_STATE
        assert state.status == terminal.status and state.seq == terminal.seq + 1


def test_cancel_unknown_or_foreign_job_is_not_found() -> None:
    _, events = step(initial_state(JOB), cancel())
    assert events[0].error_code == NOT_FOUND
    _, events = step(run_to(submit()), cancel(owner="mallory"))
    assert events[0].error_code == NOT_FOUND


def test_duplicate_commands_yield_nothing() -> None:
    state = run_to(submit())
    assert decide_with_reason(state, submit()) == ([], "duplicate_command")
    state = run_to(submit(), cancel("x1"))
    assert decide(state, cancel("x1")) == []


def test_a_rejected_command_redelivered_is_not_rejected_twice() -> None:
    state = run_to(submit(), cancel("x1"), cancel("x2"))
    assert decide(state, cancel("x2")) == []


def test_idempotency_key_same_body_is_silent_other_body_conflicts() -> None:
    state = run_to(submit(key="k", body_hash="h1"))
    retry = submit("c2", key="k", body_hash="h1")
    assert decide_with_reason(state, retry) == ([], "idempotent_retry")
    events = decide(state, submit("c3", key="k", body_hash="h2"))
    assert events[0].error_code == IDEMPOTENCY_CONFLICT


def test_terminal_states_drop_reports() -> None:
    done = run_to(submit(), started(), completed())
    for report in (started(seq=9), progressed(0.9, seq=9), completed(seq=9)):
        assert decide_with_reason(done, report) == ([], "terminal")


def test_stale_attempt_and_foreign_run_are_dropped() -> None:
    running = run_to(submit(), started())
    assert decide_with_reason(running, progressed(0.5, attempt=2)) == ([], "stale_attempt")
    assert decide_with_reason(running, progressed(0.5, run="r2")) == ([], "foreign_run")
    assert decide_with_reason(running, completed(run="r2")) == ([], "foreign_run")
    assert decide_with_reason(running, started()) == ([], "duplicate")


def test_a_redelivered_run_is_adopted_and_its_completion_finishes_the_job() -> None:
    state = run_to(submit(), started(), progressed(0.6))
    state, events = step(state, started(run="r2", at=2500))  # r1's worker died mid-job
    assert [type(e) for e in events] == [JobStarted]
    assert events[0].run_id == "r2" and events[0].attempt == 1
    assert state.status == RUNNING and state.run_id == "r2" and state.attempt == 1
    assert state.progress == 0.0 and state.started_at == 2000 and state.runs_spent == 2
    # the superseded run is dropped; the adopted one is heard and finishes the job
    assert decide_with_reason(state, progressed(0.9, seq=5)) == ([], "foreign_run")
    assert decide_with_reason(state, completed(seq=6)) == ([], "foreign_run")
    state, events = step(state, progressed(0.2, run="r2"))
    assert isinstance(events[0], JobProgressed) and state.progress == 0.2
    state, events = step(state, completed(run="r2"))
    assert isinstance(events[0], JobSucceeded) and state.status == DONE
    assert state.result_ref == f"{JOB}/1"  # the result of the work item's attempt


def test_a_crash_loop_spends_the_attempts_and_fails_worker_lost() -> None:
    state = run_to(submit(), started(run="r1"), started(run="r2"), started(run="r3"))
    assert state.status == RUNNING and state.run_id == "r3" and state.runs_spent == 3
    state, events = step(state, started(run="r4"))
    assert [type(e) for e in events] == [JobFailed]
    assert events[0].error_code == WORKER_LOST and "3 runs" in events[0].error_message
    assert state.status == FAILED and [e.seq for e in events] == [5]


def test_the_budget_comes_from_the_run_started_report() -> None:
    state = run_to(submit(), started(max_attempts=2), started(run="r2", max_attempts=2))
    _, events = step(state, started(run="r3", max_attempts=2))
    assert isinstance(events[0], JobFailed) and events[0].error_code == WORKER_LOST
    assert RunStarted(JOB, 1, "r", 1, "w", 0).max_attempts == 3  # an older engine: default


def test_adopted_runs_and_requeues_share_one_budget() -> None:
    state = run_to(submit(), started(), started(run="r2"))  # two runs of attempt 1
    state, events = step(state, WorkerSilent(JOB, 1, 9000, max_attempts=3))
    assert isinstance(events[0], JobRequeued) and state.attempt == 2
    state = run_to(submit(), started(), started(run="r2"), WorkerSilent(JOB, 1, 9000, 3),
                   started(attempt=2, run="r3", at=9500))
    assert state.status == RUNNING and state.runs_spent == 3
    _, events = step(state, WorkerSilent(JOB, 2, 20000, max_attempts=3))
    assert isinstance(events[0], JobFailed) and events[0].error_code == WORKER_LOST
    _, events = step(state, started(attempt=2, run="r4"))
    assert isinstance(events[0], JobFailed) and events[0].error_code == WORKER_LOST


def test_a_redelivered_report_of_any_known_run_decides_nothing() -> None:
    state = run_to(submit(), started(), started(run="r2"))
    for report in (started(), started(run="r2"), started(seq=7)):
        assert decide_with_reason(state, report) == ([], "duplicate")


def test_silence_noticed_before_a_run_was_adopted_is_ignored() -> None:
    state = run_to(submit(), started(), started(run="r2", at=9000))
    assert decide_with_reason(state, WorkerSilent(JOB, 1, 8999, 3)) == (
        [], "silence_of_a_superseded_run")
    _, events = step(state, WorkerSilent(JOB, 1, 9000 + 30_000, 3))
    assert isinstance(events[0], JobRequeued)


def test_a_stored_state_without_run_ids_counts_its_attempts() -> None:
    legacy = JobState(job_id=JOB, status=RUNNING, seq=5, attempt=3, run_id="r3",
                      owner="alice")
    _, events = step(legacy, started(attempt=3, run="r4"))
    assert isinstance(events[0], JobFailed) and events[0].error_code == WORKER_LOST


def test_progress_only_moves_forward() -> None:
    state = run_to(submit(), started(), progressed(0.5))
    assert decide_with_reason(state, progressed(0.5, seq=3)) == ([], "no_progress")
    assert decide_with_reason(state, progressed(0.4, seq=4)) == ([], "no_progress")
    assert isinstance(decide(state, progressed(0.6, seq=5))[0], JobProgressed)


def test_silent_worker_requeues_then_fails_worker_lost() -> None:
    state = run_to(submit(), started())
    state, events = step(state, WorkerSilent(JOB, 1, 9000, max_attempts=2))
    assert isinstance(events[0], JobRequeued) and state.status == QUEUED and state.attempt == 2
    assert work_for(state, events[0]) == RunBacktest(JOB, 2, state.config_json, 9000, "c1")
    # the old attempt's reports are now stale
    assert decide_with_reason(state, completed(attempt=1)) == ([], "stale_attempt")
    state, events = step(state, started(attempt=2, run="r2"))
    assert isinstance(events[0], JobStarted) and state.status == RUNNING
    state, events = step(state, WorkerSilent(JOB, 2, 19000, max_attempts=2))
    assert isinstance(events[0], JobFailed) and events[0].error_code == WORKER_LOST
    assert state.status == FAILED


def test_silence_of_an_old_attempt_or_a_queued_job_is_ignored() -> None:
    assert decide(run_to(submit()), WorkerSilent(JOB, 1, 9000, 3)) == []
    assert decide(run_to(submit(), started()), WorkerSilent(JOB, 2, 9000, 3)) == []


def test_requeued_job_succeeds_on_next_attempt() -> None:
    state = run_to(submit(), started(), WorkerSilent(JOB, 1, 9000, 3),
                   started(attempt=2, run="r2"), completed(attempt=2, run="r2"))
    assert state.status == DONE and state.attempt == 2 and state.started_at == 2000


def test_fold_replays_to_the_same_state() -> None:
    state, log = initial_state(JOB), []
    for message in (submit(), started(), progressed(0.3), cancel()):
        state, events = step(state, message)
        log += events
    assert fold(log) == state
    assert [e.seq for e in log] == list(range(1, len(log) + 1))
    assert isinstance(log[-1], JobCancelled)


def annotate(cid: str = "a1", owner: str = "alice", name: str | None = None,
             tags: list[str] | None = None, notes: str | None = None) -> AnnotateJob:
    return AnnotateJob(cid, JOB, owner, 6000, cid, name, tags, notes)


def test_labels_change_in_any_status_and_a_none_field_is_kept() -> None:
    state, _ = step(initial_state(JOB), submit())
    state, [named] = step(state, annotate("a1", name="grid v1", tags=["btc", "q3"]))
    assert isinstance(named, JobAnnotated) and named.seq == state.seq
    assert (state.name, state.tags, state.notes) == ("grid v1", ("btc", "q3"), None)
    for message in (started(), completed()):
        state, _ = step(state, message)
    assert state.status == DONE
    state, [noted] = step(state, annotate("a2", notes="too much turnover"))  # done: still
    assert isinstance(noted, JobAnnotated) and noted.tags == ["btc", "q3"]
    assert (state.name, state.tags, state.notes) == ("grid v1", ("btc", "q3"),
                                                     "too much turnover")
    state, _ = step(state, annotate("a3", name="", tags=[]))  # "" and [] clear
    assert (state.name, state.tags, state.status) == (None, (), DONE)
    assert decide(state, annotate("a3", name="again")) == []  # the same command: nothing


def test_labels_of_an_unknown_or_foreign_job_are_not_found() -> None:
    [rejected] = decide(initial_state(JOB), annotate())
    assert isinstance(rejected, CommandRejected) and rejected.error_code == NOT_FOUND
    state, _ = step(initial_state(JOB), submit())
    [foreign] = decide(state, annotate(owner="mallory", name="mine"))
    assert isinstance(foreign, CommandRejected) and foreign.error_code == NOT_FOUND
