"""The Orchestrator class with no broker: in-memory table, log, consumer and clock.

Each test drives the lifecycle methods the faust runtime calls (assignment, input,
timers) and checks what lands on the log and in the table (docs/architecture.md,
"Delivery guarantee of the orchestrator").
"""

from __future__ import annotations

from jobs.decider import NOT_FOUND, WORKER_LOST, JobState
from jobs.messages import (
    CancelJob,
    CommandRejected,
    InputDecided,
    JobAccepted,
    JobCancelled,
    JobFailed,
    JobProgressed,
    JobRequeued,
    JobStarted,
    JobSucceeded,
    RunBacktest,
    RunCompleted,
    RunProgressed,
    RunStarted,
    SubmitJob,
    WorkerSilent,
)
from jobs.state_codec import load_state
from jobs.statuses import CANCELLED, DONE, FAILED, QUEUED, RUNNING
from orchestrator.input_gaps import STALL_AFTER_S
from orchestrator.orchestrator import partition_of
from orchestrator.ports import Out
from orchestrator.reconcile import WATERMARK_KEY
from tests.orchestrator.fakes import (
    METRICS,
    SETTINGS,
    TOPICS,
    MemoryLog,
    MemoryTable,
    Rig,
    run,
    settle,
)

JOB = "bt_orch_1"
PARTITION = partition_of(JOB.encode(), SETTINGS.partitions)
T0 = 1_700_000_000_000


def submit(command_id: str = "c1", job_id: str = JOB) -> SubmitJob:
    return SubmitJob(command_id=command_id, job_id=job_id, owner="alice",
                     config_json='{"template": "sma"}', submitted_at=T0,
                     correlation_id="corr-1")


def started(run_id: str = "r1", attempt: int = 1) -> RunStarted:
    return RunStarted(job_id=JOB, attempt=attempt, run_id=run_id, report_seq=1,
                      worker_id="w1", occurred_at=T0 + 10, max_attempts=SETTINGS.max_attempts)


def stored(rig: Rig, job_id: str = JOB) -> JobState | None:
    raw = rig.table.get(job_id.encode())
    return None if raw is None else load_state(raw, job_id)


def stored_status(rig: Rig) -> str | None:
    state = stored(rig)
    return None if state is None else state.status


async def running(rig: Rig) -> Rig:
    """The job submitted and its first run started."""
    await rig.feed(submit())
    await rig.feed(started())
    return rig


def decisions(rig: Rig) -> list[InputDecided]:
    return rig.log.messages(Out.DECISIONS)


async def assigned(rig: Rig) -> Rig:
    await rig.orchestrator.on_partitions_assigned(rig.consumer.assigned())
    return rig


@run
async def test_submit_appends_accepted_and_work_and_stores_only_after_the_acks() -> None:
    rig = await assigned(Rig(log=MemoryLog(auto_ack=False)))
    record = await rig.feed(submit())
    [accepted] = rig.log.messages(Out.EVENTS)
    assert isinstance(accepted, JobAccepted) and accepted.seq == 1
    [work] = rig.log.messages(Out.WORK)
    assert work == RunBacktest(job_id=JOB, attempt=1, config_json='{"template": "sma"}',
                               issued_at=T0, correlation_id="corr-1")
    [decided] = decisions(rig)
    assert (decided.outcome, decided.event_seqs, decided.input_type) == ("events", [1],
                                                                         "SubmitJob")
    assert (decided.input_topic, decided.input_partition, decided.input_offset) == (
        TOPICS.commands, PARTITION, 0)
    assert rig.log.records[Out.DECISIONS].keys() == {PARTITION}  # the input's partition
    # write-behind: later inputs see the decided state, the table does not have it yet
    assert stored(rig) is None
    assert rig.orchestrator.current_state(JOB).status == QUEUED
    rig.log.ack(1)  # the event, not the work item
    await settle()
    assert stored(rig) is None
    rig.log.ack()
    await settle()
    state = stored(rig)
    assert state is not None and state.status == QUEUED and state.seq == 1
    assert rig.table.within[-1] == record  # written in the input's context
    assert rig.failures == []


@run
async def test_an_input_is_acknowledged_only_once_every_effect_is_on_the_log() -> None:
    rig = await assigned(Rig(log=MemoryLog(auto_ack=False)))
    record = await rig.feed(submit())
    assert len(rig.log.held) == 3  # the event, the work item, the decision record
    rig.log.ack(2)
    await settle()
    assert rig.consumer.acked == []  # its decision record is not on the log yet
    rig.log.ack()
    await settle()
    assert rig.consumer.acked == [record]


@run
async def test_inputs_of_a_partition_are_acknowledged_in_offset_order() -> None:
    rig = await assigned(Rig(log=MemoryLog(auto_ack=False)))
    first = await rig.feed(submit())  # three effects
    duplicate = await rig.feed(submit())  # decides nothing: its decision record only
    [(last_future, _)] = [rig.log.held[-1]]
    last_future.set_result(rig.log.held[-1][1])  # the duplicate's effect lands first
    await settle()
    assert rig.consumer.acked == []  # never past an input whose effects are in flight
    rig.log.ack(3)
    await settle()
    assert rig.consumer.acked == [first, duplicate]


@run
async def test_an_input_whose_effect_failed_is_never_acknowledged() -> None:
    rig = await assigned(Rig(log=MemoryLog(auto_ack=False)))
    await rig.feed(submit())
    rig.log.fail_all(RuntimeError("broker refused"))
    await settle()
    assert rig.consumer.acked == []


@run
async def test_an_effect_refused_by_the_log_is_fatal_and_the_state_never_stored() -> None:
    rig = await assigned(Rig(log=MemoryLog(auto_ack=False)))
    await rig.feed(submit())
    rig.log.fail_all(RuntimeError("broker refused"))
    await settle()
    assert stored(rig) is None
    assert rig.failures and all(isinstance(f, RuntimeError) for f in rig.failures)


@run
async def test_a_state_acknowledged_after_its_partition_was_revoked_is_not_stored() -> None:
    rig = await assigned(Rig(log=MemoryLog(auto_ack=False)))
    await rig.feed(submit())
    rig.consumer.assignment = {tp for tp in rig.consumer.assignment if tp[1] != PARTITION}
    rig.log.ack()
    await settle()
    assert stored(rig) is None  # its next owner reconciles the table with the log


@run
async def test_a_duplicate_input_decides_nothing() -> None:
    rig = await assigned(Rig())
    first = await rig.feed(submit())
    await rig.feed(submit())  # the same command again, at the next offset
    # and the same record again (faust sought back to the committed offset)
    await rig.orchestrator.on_input(first)
    await settle()
    assert len(rig.log.messages(Out.EVENTS)) == 1 and len(rig.log.messages(Out.WORK)) == 1
    assert [(d.outcome, d.reason, d.event_seqs) for d in decisions(rig)] == [
        ("events", "", [1]), ("ignored", "duplicate_command", []),
        ("ignored", "duplicate_command", [])]
    assert [d.input_offset for d in decisions(rig)] == [0, 1, 0]


@run
async def test_cancel_a_queued_job() -> None:
    rig = await assigned(Rig())
    await rig.feed(submit())
    await rig.feed(CancelJob(command_id="c2", job_id=JOB, owner="alice", issued_at=T0 + 5,
                             correlation_id="corr-2", reason="changed my mind"))
    events = rig.log.messages(Out.EVENTS)
    assert [type(e) for e in events] == [JobAccepted, JobCancelled]
    assert events[1].seq == 2 and events[1].reason == "changed my mind"
    assert stored_status(rig) == CANCELLED


@run
async def test_reports_of_a_worker_run_the_job_to_done() -> None:
    rig = await assigned(Rig())
    await rig.feed(submit())
    await rig.feed(started())
    await rig.feed(RunProgressed(job_id=JOB, attempt=1, run_id="r1", report_seq=2,
                                 progress=0.5, occurred_at=T0 + 20))
    await rig.feed(RunProgressed(job_id=JOB, attempt=2, run_id="r1", report_seq=3,
                                 progress=0.7, occurred_at=T0 + 25))  # stale attempt
    await rig.feed(RunCompleted(job_id=JOB, attempt=1, run_id="r1", report_seq=4,
                                metrics=METRICS, result_ref="results/bt_orch_1/1",
                                occurred_at=T0 + 30))
    events = rig.log.messages(Out.EVENTS)
    assert [type(e) for e in events] == [JobAccepted, JobStarted, JobProgressed, JobSucceeded]
    assert [e.seq for e in events] == [1, 2, 3, 4]
    state = stored(rig)
    assert state is not None and state.status == DONE and state.metrics == METRICS
    assert [(d.input_topic, d.outcome, d.reason) for d in decisions(rig)][1:] == [
        (TOPICS.reports, "events", ""), (TOPICS.reports, "events", ""),
        (TOPICS.reports, "ignored", "stale_attempt"), (TOPICS.reports, "events", "")]
    assert rig.orchestrator.counters["ignored_stale_attempt"] == 1


@run
async def test_a_rejected_command_is_an_event_and_a_decision() -> None:
    rig = await assigned(Rig())
    await rig.feed(CancelJob(command_id="c9", job_id=JOB, owner="alice", issued_at=T0,
                             correlation_id="corr-9", reason=None))
    [rejected] = rig.log.messages(Out.EVENTS)
    assert isinstance(rejected, CommandRejected)
    assert (rejected.error_code, rejected.command_id, rejected.seq) == (NOT_FOUND, "c9", 1)
    assert rig.log.messages(Out.WORK) == []
    [decided] = decisions(rig)
    assert (decided.outcome, decided.event_seqs, decided.input_type) == ("events", [1],
                                                                         "CancelJob")


@run
async def test_poison_and_a_key_mismatch_are_decided_as_poison() -> None:
    rig = await assigned(Rig())
    await rig.feed(submit(), value=b"not avro at all")
    await rig.feed(submit(), key=b"another_job")
    assert rig.log.messages(Out.EVENTS) == []
    assert [(d.outcome, d.reason, d.job_id) for d in decisions(rig)] == [
        ("poison", "DecodeError", ""), ("poison", "key_mismatch", JOB)]
    assert rig.orchestrator.counters["poison"] == 2


@run
async def test_a_silent_worker_is_requeued_then_lost() -> None:
    rig = await running(await assigned(Rig()))
    rig.clock.advance(SETTINGS.heartbeat_timeout_s / 2)
    await rig.orchestrator.on_liveness_timer()
    assert rig.log.messages(Out.COMMANDS) == []  # not silent for the timeout yet
    rig.clock.advance(SETTINGS.heartbeat_timeout_s)
    await rig.orchestrator.on_liveness_timer()
    [tick] = rig.log.messages(Out.COMMANDS)
    assert tick == WorkerSilent(job_id=JOB, attempt=1, now=rig.clock.ms,
                                max_attempts=SETTINGS.max_attempts)
    await rig.feed(tick)  # faust delivers it back on `commands`
    assert isinstance(rig.log.messages(Out.EVENTS)[-1], JobRequeued)
    assert [w.attempt for w in rig.log.messages(Out.WORK)] == [1, 2]
    # attempt 2 runs and goes silent too: the attempts are spent
    await rig.feed(started(run_id="r2", attempt=2))
    rig.clock.advance(SETTINGS.heartbeat_timeout_s)
    await rig.orchestrator.on_liveness_timer()
    await rig.feed(rig.log.messages(Out.COMMANDS)[-1])
    lost = rig.log.messages(Out.EVENTS)[-1]
    assert isinstance(lost, JobFailed) and lost.error_code == WORKER_LOST
    assert stored_status(rig) == FAILED


@run
async def test_liveness_is_seeded_from_the_table_after_a_restart() -> None:
    first = await running(await assigned(Rig()))
    # a new process over the same table: the running job gets a full timeout from now
    rig = await assigned(Rig(log=first.log, table=first.table, clock=first.clock))
    await rig.orchestrator.on_liveness_timer()
    assert rig.log.messages(Out.COMMANDS) == []
    assert len(rig.orchestrator.liveness) == 1
    rig.clock.advance(SETTINGS.heartbeat_timeout_s)
    await rig.orchestrator.on_liveness_timer()
    assert [t.job_id for t in rig.log.messages(Out.COMMANDS)] == [JOB]


@run
async def test_reconcile_on_assignment_folds_what_the_log_holds_beyond_the_table() -> None:
    # the first owner appended and got acks, but died before its states reached the table
    first = await running(await assigned(Rig()))
    rig = await assigned(Rig(log=first.log, table=MemoryTable(), clock=first.clock))
    await rig.feed(submit(), offset=0)  # the uncommitted input, again
    assert [type(e) for e in rig.log.messages(Out.EVENTS)] == [JobAccepted, JobStarted]
    assert decisions(rig)[-1].reason == "duplicate_command"
    state = stored(rig)
    assert state is not None and state.status == RUNNING and state.seq == 2
    # the work item the folded JobAccepted called for is sent again (harmless)
    assert [w.attempt for w in rig.log.messages(Out.WORK)] == [1, 1]
    assert rig.table.get(WATERMARK_KEY % PARTITION) == b"2"
    assert rig.reader.reads == [(PARTITION, 0)]


@run
async def test_reconcile_reads_from_the_watermark_once_per_assignment() -> None:
    first = await assigned(Rig())
    await first.feed(submit())
    table = MemoryTable({WATERMARK_KEY % PARTITION: b"1", JOB.encode(): first.table.data[
        JOB.encode()]})
    rig = await assigned(Rig(log=first.log, table=table, clock=first.clock))
    await rig.feed(started())
    await rig.feed(RunProgressed(job_id=JOB, attempt=1, run_id="r1", report_seq=2,
                                 progress=0.5, occurred_at=T0 + 20))
    assert rig.reader.reads == [(PARTITION, 1)]
    rig.commit()
    await rig.orchestrator.on_partitions_assigned(rig.consumer.assigned())
    await rig.feed(RunProgressed(job_id=JOB, attempt=1, run_id="r1", report_seq=3,
                                 progress=0.6, occurred_at=T0 + 21))
    assert rig.reader.reads == [(PARTITION, 1), (PARTITION, 1)]  # a new assignment
    assert [type(e) for e in rig.log.messages(Out.EVENTS)] == [
        JobAccepted, JobStarted, JobProgressed, JobProgressed]


@run
async def test_the_watermark_never_passes_an_acked_event_whose_state_waits() -> None:
    rig = await assigned(Rig(log=MemoryLog(auto_ack=False)))
    await rig.feed(submit())  # JobAccepted at events offset 0, its work item held
    rig.log.ack(1)
    await settle()
    rig.clock.advance(2.0)
    await rig.feed(CancelJob(command_id="c3", job_id=JOB, owner="alice", issued_at=T0,
                             correlation_id="x", reason=None))
    # the event of `submit` is acknowledged, its state waits for the work item
    assert rig.table.get(WATERMARK_KEY % PARTITION) == b"0"  # as reconciled
    rig.log.ack()
    await settle()
    rig.clock.advance(2.0)
    await rig.feed(CancelJob(command_id="c3", job_id=JOB, owner="alice", issued_at=T0,
                             correlation_id="x", reason=None))  # decides nothing
    assert rig.table.get(WATERMARK_KEY % PARTITION) == b"2"


@run
async def test_a_record_past_a_hole_is_skipped_unacknowledged_and_refetched() -> None:
    rig = Rig()
    tp = (TOPICS.commands, PARTITION)
    rig.reader.committed_at[tp] = 3
    await assigned(rig)
    record = await rig.feed(submit(), offset=5)
    assert rig.consumer.skipped == [record] and rig.consumer.seeks == [(tp, 3)]
    assert rig.log.messages(Out.EVENTS) == [] and decisions(rig) == []
    await rig.feed(submit(), offset=6)  # buffered past the hole: skipped, no second seek
    assert len(rig.consumer.skipped) == 2 and len(rig.consumer.seeks) == 1
    await rig.feed(submit(), offset=3)  # the refetched hole is decided
    assert [d.input_offset for d in decisions(rig)] == [3]


@run
async def test_a_dropped_record_with_nothing_after_it_is_refetched_by_the_stall_timer() -> None:
    rig = Rig()
    tp = (TOPICS.commands, PARTITION)
    await assigned(rig)
    await rig.feed(submit(), offset=0)
    rig.consumer.positions[tp] = 2  # the fetcher moved past offset 1, never delivered
    await rig.orchestrator.on_stall_timer()
    assert rig.consumer.seeks == []  # not stalled long enough
    rig.clock.advance(STALL_AFTER_S)
    await rig.orchestrator.on_stall_timer()
    assert rig.consumer.seeks == [(tp, 1)]
    assert rig.orchestrator.counters["input_gaps"] == 1
