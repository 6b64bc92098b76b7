"""The sweep decider and what a sweep's events call for, without a broker."""

from __future__ import annotations

from typing import Any

import orjson

from jobs.decider import decide_with_reason, effects_for, evolve, initial_state
from jobs.events import CommandRejected, Event, JobCancelled, JobSucceeded
from jobs.messages import CancelJob, CancelSweep, ChildFinished, Metrics, SubmitJob, SubmitSweep
from jobs.state import JobState
from jobs.state_codec import dump_state, load_state
from jobs.sweep_events import (
    NO_CHOICE,
    SweepAccepted,
    SweepBestImproved,
    SweepCancelled,
    SweepChildFinished,
    SweepCompleted,
    SweepStoppedEarly,
    SweepWindowChosen,
)
from jobs.sweep_state import SweepState, child_job_id, sweep_of

SWEEP = "sw_00000000000000ab"
BASE = {"template_id": "tpl_sma_cross", "params": {"fast": 5, "slow": 50},
        "symbols": ["BTCUSDT"], "timeframe": "1h", "start": "2024-01-01T00:00:00Z",
        "end": "2024-03-01T00:00:00Z", "capital": "10000", "leverage": 1,
        "fee_model": "flat_bps", "fee_bps": "5"}


def _request(**extra: Any) -> dict[str, Any]:
    return {"base": BASE, "grid": {"params.fast": [5, 10], "params.slow": [50, 100]},
            "objective": {"metric": "sharpe", "goal": "maximize"}, **extra}


def _metrics(sharpe: str | None, drawdown: str = "-0.1") -> Metrics:
    return Metrics(sharpe=sharpe, max_drawdown=drawdown, total_trades=3,
                   avg_trade_duration_seconds=60)


def _apply(state: Any, message: Any) -> tuple[Any, list[Event], str | None]:
    events, why = decide_with_reason(state, message)
    for event in events:
        state = evolve(state, event)
    return state, events, why


def _accepted(**extra: Any) -> SweepState:
    submit = SubmitSweep(command_id="c-1", sweep_id=SWEEP, owner="alice",
                         config_json=orjson.dumps(_request(**extra)).decode(),
                         submitted_at=1_000, correlation_id="corr")
    state, events, _ = _apply(initial_state(SWEEP), submit)
    assert [type(e) for e in events] == [SweepAccepted]
    return state


def _finished(index: int, status: str = "done", sharpe: str | None = "1.0",
              at: int = 2_000) -> ChildFinished:
    return ChildFinished(sweep_id=SWEEP, job_id=child_job_id(SWEEP, index), index=index,
                         status=status, finished_at=at,
                         metrics=_metrics(sharpe) if status == "done" else None)


def test_child_ids_name_their_sweep_and_index() -> None:
    job_id = child_job_id(SWEEP, 17)
    assert job_id == "bt_00000000000000ab_000017"
    assert sweep_of(job_id) == (SWEEP, 17)
    assert sweep_of("bt_0123456789abcdef") is None


def test_acceptance_calls_for_one_submit_per_child_with_derived_ids() -> None:
    state = _accepted()
    assert (state.status, state.total, state.owner) == ("queued", 4, "alice")
    submits = list(effects_for(state, SweepAccepted(
        event_id="e", job_id=SWEEP, seq=1, occurred_at=1_000, causation_id="c-1",
        correlation_id="corr", owner="alice", config_json=state.config_json,
        submitted_at=1_000, total=4)))
    assert all(isinstance(s, SubmitJob) for s in submits)
    assert [s.job_id for s in submits] == [child_job_id(SWEEP, i) for i in range(4)]
    assert [orjson.loads(s.config_json)["params"] for s in submits] == [
        {"fast": 5, "slow": 50}, {"fast": 5, "slow": 100},
        {"fast": 10, "slow": 50}, {"fast": 10, "slow": 100}]
    assert len({s.command_id for s in submits}) == 4


def test_a_child_is_heard_once_and_the_best_improves_strictly() -> None:
    state = _accepted()
    state, events, _ = _apply(state, _finished(2, sharpe="1.5"))
    assert [type(e) for e in events] == [SweepChildFinished, SweepBestImproved]
    assert (state.status, state.best_index, state.best_value) == ("running", 2, 1.5)
    state, events, why = _apply(state, _finished(2, sharpe="1.5"))
    assert (events, why) == ([], "duplicate")
    state, events, _ = _apply(state, _finished(0, sharpe="1.5"))  # a tie is no improvement
    assert [type(e) for e in events] == [SweepChildFinished]
    state, events, _ = _apply(state, _finished(1, status="failed"))
    state, events, _ = _apply(state, _finished(3, sharpe=None))  # undefined: not ranked
    assert [type(e) for e in events] == [SweepChildFinished, SweepCompleted]
    assert (state.status, state.done, state.failed, state.best_job_id) == (
        "done", 3, 1, child_job_id(SWEEP, 2))


def test_constraints_keep_a_child_off_the_best() -> None:
    state = _accepted(constraints=[{"metric": "max_drawdown", "min": "-0.05"}])
    state, events, _ = _apply(state, _finished(0, sharpe="3.0"))  # drawdown -0.1 < -0.05
    assert [type(e) for e in events] == [SweepChildFinished]
    assert state.best_index is None


def test_patience_stops_early_and_cancels_the_unfinished() -> None:
    state = _accepted(early_stop={"patience": 2})
    state, _, _ = _apply(state, _finished(0, sharpe="2.0"))
    state, _, _ = _apply(state, _finished(1, sharpe="1.0"))
    state, events, _ = _apply(state, _finished(2, sharpe="1.0"))
    assert [type(e) for e in events] == [SweepChildFinished, SweepStoppedEarly]
    cancels = list(effects_for(state, events[-1]))
    assert [c.job_id for c in cancels if isinstance(c, CancelJob)] == [child_job_id(SWEEP, 3)]
    state, events, _ = _apply(state, _finished(3, status="cancelled"))
    assert [type(e) for e in events] == [SweepChildFinished, SweepCompleted]
    assert (state.status, state.stopped_early, state.cancelled) == ("done", True, 1)


def test_cancel_ends_the_sweep_at_once_and_a_second_cancel_is_refused() -> None:
    state = _accepted()
    state, _, _ = _apply(state, _finished(1))
    cancel = CancelSweep(command_id="c-2", sweep_id=SWEEP, owner="alice", issued_at=3_000,
                         correlation_id="corr", reason="enough")
    state, events, _ = _apply(state, cancel)
    assert [type(e) for e in events] == [SweepCancelled]
    assert (state.status, state.finished_at) == ("cancelled", 3_000)
    assert [c.job_id for c in effects_for(state, events[0])] == [
        child_job_id(SWEEP, i) for i in (0, 2, 3)]
    again = CancelSweep(command_id="c-3", sweep_id=SWEEP, owner="alice", issued_at=3_001,
                        correlation_id="corr")
    _, events, _ = _apply(state, again)
    assert isinstance(events[0], CommandRejected) and events[0].error_code == "INVALID_STATE"
    state, events, _ = _apply(state, _finished(0, status="cancelled"))  # still counted
    assert [type(e) for e in events] == [SweepChildFinished] and state.cancelled == 1
    other = CancelSweep(command_id="c-4", sweep_id=SWEEP, owner="mallory", issued_at=1,
                        correlation_id="x")
    _, events, _ = _apply(_accepted(), other)
    assert isinstance(events[0], CommandRejected) and events[0].error_code == "NOT_FOUND"


def test_every_child_cancelled_ends_the_sweep_cancelled() -> None:
    state = _accepted()
    for index in range(4):
        state, _, _ = _apply(state, _finished(index, status="cancelled"))
    assert state.status == "cancelled"


def test_a_childs_terminal_event_calls_for_its_sweep_to_hear_it() -> None:
    job_id = child_job_id(SWEEP, 3)
    child = JobState(job_id=job_id, status="done", seq=4, owner="alice",
                     metrics=_metrics("0.5"))
    done = JobSucceeded(event_id="e", job_id=job_id, seq=4, occurred_at=9, causation_id="r",
                        correlation_id="c", attempt=1, metrics=_metrics("0.5"),
                        result_ref=f"{job_id}/1")
    assert list(effects_for(child, done)) == [ChildFinished(
        sweep_id=SWEEP, job_id=job_id, index=3, status="done", finished_at=9,
        metrics=_metrics("0.5"))]
    plain = JobState(job_id="bt_0123456789abcdef", status="cancelled", seq=2)
    cancelled = JobCancelled(event_id="e", job_id=plain.job_id, seq=2, occurred_at=9,
                             causation_id="c", correlation_id="c", progress=0.0)
    assert list(effects_for(plain, cancelled)) == []


def test_a_sweeps_state_survives_the_table_codec() -> None:
    state = _accepted()
    for index in (0, 3):
        state, _, _ = _apply(state, _finished(index, sharpe="1.25"))
    again = load_state(dump_state(state), SWEEP)
    assert again == state and again.heard(3) and not again.heard(1)
    assert again.unfinished() == [1, 2]


def test_inputs_of_one_kind_do_not_reach_the_other_decider() -> None:
    assert decide_with_reason(JobState(job_id="bt_x"), _finished(0)) == ([], "not_a_sweep")
    assert decide_with_reason(_accepted(), CancelJob(
        command_id="c", job_id=SWEEP, owner="alice", issued_at=1,
        correlation_id="c")) == ([], "not_a_job")


# ---- walk-forward ----------------------------------------------------------------------
# January and February 2024 (60 days): windows train on days 0-20, 15-35, 30-50 and test
# the 10 days after each; 4 combinations, so children 0-11 train and 12-14 test.
WF = {"train": "20d", "test": "10d", "step": "15d"}


def _effects(state: SweepState, events: list[Event]) -> list[Any]:
    return [effect for event in events for effect in effects_for(state, event)]


def _finish_window(state: SweepState, window: int, sharpes: list[str | None],
                   ) -> tuple[SweepState, list[Event]]:
    """Every training child of `window` ends: done with a sharpe, failed for None."""
    events: list[Event] = []
    for combo, sharpe in enumerate(sharpes):
        note = _finished(window * 4 + combo, "done" if sharpe else "failed", sharpe)
        state, more, _ = _apply(state, note)
        events += more
    return state, events


def test_walk_forward_submits_the_training_children_on_their_spans() -> None:
    state = _accepted(walk_forward=WF)
    assert state.total == 15 and state.window_left == (4, 4, 4)
    accepted = SweepAccepted(event_id="e", job_id=SWEEP, seq=1, occurred_at=1_000,
                             causation_id="c-1", correlation_id="corr", owner="alice",
                             config_json=state.config_json, submitted_at=1_000, total=15)
    submits = list(effects_for(state, accepted))
    assert [s.job_id for s in submits] == [child_job_id(SWEEP, i) for i in range(12)]
    spans = [(c["start"], c["end"]) for c in (orjson.loads(s.config_json) for s in submits)]
    assert spans[0] == ("2024-01-01T00:00:00Z", "2024-01-21T00:00:00Z")
    assert spans[4] == ("2024-01-16T00:00:00Z", "2024-02-05T00:00:00Z")


def test_a_windows_best_training_child_is_rerun_on_its_test_span() -> None:
    state = _accepted(walk_forward=WF)
    state, events = _finish_window(state, 0, ["1.0", "3.0", "2.0", None])
    chosen = [e for e in events if isinstance(e, SweepWindowChosen)]
    assert [(e.window, e.index) for e in chosen] == [(0, 1)]
    assert state.window_chosen == (1, None, None)
    (submit,) = [e for e in _effects(state, chosen)]
    assert isinstance(submit, SubmitJob) and submit.job_id == child_job_id(SWEEP, 12)
    config = orjson.loads(submit.config_json)
    assert config["params"] == {"fast": 5, "slow": 100}  # combination 1
    assert (config["start"], config["end"]) == ("2024-01-21T00:00:00Z", "2024-01-31T00:00:00Z")
    # the test run's end counts but is never ranked, however good
    state, events, _ = _apply(state, _finished(12, sharpe="9.0"))
    assert [type(e) for e in events] == [SweepChildFinished]
    assert (state.best_index, state.best_value, state.done) == (1, 3.0, 4)


def test_a_window_without_a_qualifying_child_ends_its_test_run_unrun() -> None:
    state = _accepted(walk_forward=WF)
    state, events = _finish_window(state, 1, [None, None, None, None])
    chosen = [e for e in events if isinstance(e, SweepWindowChosen)]
    assert [(e.window, e.index) for e in chosen] == [(1, NO_CHOICE)]
    (never,) = _effects(state, chosen)
    assert isinstance(never, ChildFinished)
    assert (never.index, never.status, never.job_id) == (13, "cancelled",
                                                         child_job_id(SWEEP, 13))
    state, events, _ = _apply(state, never)
    assert [type(e) for e in events] == [SweepChildFinished] and state.cancelled == 1


def test_a_walk_forward_sweep_ends_once_every_window_tested() -> None:
    state = _accepted(walk_forward=WF)
    for window in range(3):
        state, _ = _finish_window(state, window, ["1.0", "2.0", "0.5", "0.1"])
    assert state.window_chosen == (1, 5, 9)
    for test in (12, 13):
        state, events, _ = _apply(state, _finished(test))
        assert state.status == "running"
    state, events, _ = _apply(state, _finished(14))
    assert isinstance(events[-1], SweepCompleted) and state.status == "done"
    assert state.finished_count == state.total == 15


def test_cancel_cancels_chosen_test_runs_and_ends_unchosen_ones_unrun() -> None:
    state = _accepted(walk_forward=WF)
    state, _ = _finish_window(state, 0, ["1.0", "2.0", "0.5", "0.1"])
    cancel = CancelSweep(command_id="c-9", sweep_id=SWEEP, owner="alice", issued_at=5_000,
                         correlation_id="corr", reason="enough")
    state, events, _ = _apply(state, cancel)
    effects = _effects(state, events)
    cancels = sorted(e.job_id for e in effects if isinstance(e, CancelJob))
    unrun = sorted(e.index for e in effects if isinstance(e, ChildFinished))
    assert cancels == [child_job_id(SWEEP, i) for i in [*range(4, 12), 12]]
    assert unrun == [13, 14]
    # the last training child of window 1 ending after the cancel chooses nothing
    for index in range(4, 8):
        state, events, _ = _apply(state, _finished(index))
        assert not any(isinstance(e, SweepWindowChosen) for e in events)


def test_a_walk_forward_state_survives_the_table_codec() -> None:
    state = _accepted(walk_forward=WF)
    state, _ = _finish_window(state, 0, ["1.0", "2.0", "0.5", None])
    loaded = load_state(dump_state(state), SWEEP)
    assert loaded == state
    loaded, _, _ = _apply(loaded, _finished(4))
    assert loaded.window_left == (0, 3, 4)
