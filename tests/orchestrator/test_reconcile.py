"""`fold_missing`: the events the log holds beyond the table, folded with no broker."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from jobs import messages
from jobs.decider import JobState, evolve, initial_state
from jobs.messages import (
    Event,
    Input,
    InputDecided,
    JobAccepted,
    JobRequeued,
    RunStarted,
    SubmitJob,
    WorkerSilent,
)
from jobs.statuses import QUEUED, RUNNING
from orchestrator.reconcile import fold_missing
from pipai.kafka.codec import MessageCodec
from schemas.codec import default_codec
from tests.jobs.helpers import decide_all

CODEC = MessageCodec(default_codec(), messages)
T0 = 1_700_000_000_000


def history(job_id: str) -> list[Event]:
    """accepted (1), started (2), requeued after silence (3) — decided for real."""
    inputs: list[Input] = [
        SubmitJob(command_id=f"c-{job_id}", job_id=job_id, owner="alice", config_json="{}",
                  submitted_at=T0, correlation_id="corr"),
        RunStarted(job_id=job_id, attempt=1, run_id="r1", report_seq=1, worker_id="w1",
                   occurred_at=T0 + 1, max_attempts=3),
        WorkerSilent(job_id=job_id, attempt=1, now=T0 + 60_000, max_attempts=3),
    ]
    return decide_all(initial_state(job_id), inputs)[1]


def records(events: Sequence[object]) -> list[tuple[int, bytes]]:
    return [(offset, CODEC.encode(e)) for offset, e in enumerate(events)]


def loader(states: dict[str, JobState]) -> Callable[[str], JobState]:
    """The table lookup fold_missing falls back on."""
    def load(job_id: str) -> JobState:
        return states.get(job_id) or JobState(job_id=job_id)
    return load


def test_an_empty_table_is_rebuilt_from_the_whole_log_and_its_work_resent() -> None:
    events = history("a") + history("b")
    found = fold_missing(records(events), CODEC, loader({}))
    assert found.folded == 6 and found.gaps == []
    assert {job: (s.status, s.seq, s.attempt) for job, s in found.states.items()} == {
        "a": (QUEUED, 3, 2), "b": (QUEUED, 3, 2)}
    # JobAccepted and JobRequeued each call for a run
    assert [(w.job_id, w.attempt) for w in found.effects] == [("a", 1), ("a", 2), ("b", 1),
                                                           ("b", 2)]


def test_events_already_in_the_table_are_skipped() -> None:
    events = history("a")
    in_table = evolve(evolve(initial_state("a"), events[0]), events[1])
    found = fold_missing(records(events), CODEC, loader({"a": in_table}))
    assert found.folded == 1
    assert isinstance(events[2], JobRequeued)
    assert found.states["a"].seq == 3 and found.states["a"].status == QUEUED
    assert [w.attempt for w in found.effects] == [2]  # not the accepted job's first run


def test_a_table_that_has_everything_folds_nothing() -> None:
    events = history("a")
    state = initial_state("a")
    for event in events:
        state = evolve(state, event)
    found = fold_missing(records(events), CODEC, loader({"a": state}))
    assert (found.folded, found.states, found.effects, found.gaps) == (0, {}, [], [])


def test_a_gap_in_a_jobs_seqs_is_reported_not_folded() -> None:
    accepted, started, requeued = history("a")
    found = fold_missing(records([accepted, requeued]), CODEC, loader({}))
    assert found.gaps == [("a", 3)]
    assert found.states["a"].seq == 1 and found.states["a"].status == QUEUED
    assert isinstance(accepted, JobAccepted) and started.seq == 2


def test_poison_and_records_that_are_not_events_are_skipped() -> None:
    accepted, started, _ = history("a")
    decided = InputDecided(job_id="a", input_topic="t.commands", input_partition=0,
                           input_offset=0, input_type="SubmitJob", outcome="events",
                           reason="", event_seqs=[1], instance="i", decided_at=T0)
    found = fold_missing(
        [(0, b"garbage"), *records([accepted]), (2, CODEC.encode(decided)),
         (3, CODEC.encode(started))], CODEC, loader({}))
    assert found.folded == 2 and found.states["a"].status == RUNNING
