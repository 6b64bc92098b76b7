"""The orchestrator process: a faust-streaming loop around the pure decider.

For each input on `commands` (SubmitJob, CancelJob, WorkerSilent) or `reports`
(RunStarted/Progressed/Completed/Failed), keyed by job_id: load the job's state
from the RocksDB table, `decide`, append the events to `events` (and RunBacktest
items to `work`), fold them with `evolve`, store the state. Both input topics are
co-partitioned with the table, so one job is only ever handled by one worker.

Guarantee: at-least-once with idempotent effects, and no event written twice
(docs/architecture.md). Faust flushes the producer before it commits input
offsets, so nothing decided is lost. A decided state is stored in the table only
once every effect of its input is acknowledged (`orchestrator.pending`), so the
table never runs ahead of the log; before a partition's first input the table is
reconciled with the events the log already holds (`orchestrator.reconcile`), so
an input processed again after a crash finds its effect and decides nothing.
Every input leaves a decision record on `decisions` (`InputDecided`), so that
"every input is decided" can be checked against the log.

Liveness: a timer looks at running jobs in this worker's partitions; an attempt
with no report for the heartbeat timeout gets a WorkerSilent input on
`commands` (so it is decided in the partition's stream like any input).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import weakref
from collections import Counter
from typing import Any

import faust
from aiokafka.partitioner import murmur2
from faust.streams import _current_event
from faust.transport.consumer import Consumer as FaustConsumer
from faust.transport.drivers.aiokafka import Producer as FaustProducer

from jobs.decider import JobState, decide_with_reason, evolve, work_for
from jobs.liveness import LivenessTracker
from jobs.messages import InputDecided, Report, WorkerSilent, from_record, to_record
from jobs.state_codec import dump_state, load_state
from orchestrator.input_gaps import InputGaps, Verdict
from orchestrator.pending import PendingStates
from orchestrator.reconcile import (
    WATERMARK_KEY,
    committed_positions,
    fold_missing,
    read_partition,
)
from pipai.log import get_logger
from pipai.schema_log import kafka_codec
from pipai.settings import Settings
from pipai.topics import Topics
from schemas.codec import DecodeError

log = get_logger("orchestrator")


def _no_gaps_acked_for(input_topics: set[str]) -> None:
    """faust counts a jump in offsets as acknowledged (for compacted or transactional
    topics); on our inputs a jump means dropped records (`orchestrator.input_gaps`)."""
    original = FaustConsumer._add_gap
    if getattr(original, "pipai_inputs", None) is not None:
        original.pipai_inputs |= input_topics  # type: ignore[attr-defined]
        return

    async def add_gap(self: FaustConsumer, tp: Any, offset_from: int, offset_to: int) -> None:
        if tp.topic not in add_gap.pipai_inputs:  # type: ignore[attr-defined]
            await original(self, tp, offset_from, offset_to)

    add_gap.pipai_inputs = set(input_topics)  # type: ignore[attr-defined]
    FaustConsumer._add_gap = add_gap  # type: ignore[method-assign]


def _idempotent_producer() -> None:
    """faust makes its producer idempotent only for exactly_once. Without it, a batch
    whose acknowledgement was lost (a broker SIGKILL) is retried and written twice: the
    same event twice on the audit log (found by `pipai chaos --seed 1`, iteration 0)."""
    original = FaustProducer._settings_extra
    if getattr(original, "pipai_idempotent", False):
        return

    def settings_extra(self: FaustProducer) -> Any:
        return {"acks": "all", "enable_idempotence": True, **original(self)}

    settings_extra.pipai_idempotent = True  # type: ignore[attr-defined]
    FaustProducer._settings_extra = settings_extra  # type: ignore[method-assign]


def build_app(settings: Settings) -> faust.App:
    topics = Topics.for_prefix(settings.topic_prefix)
    _no_gaps_acked_for({topics.commands, topics.reports})
    _idempotent_producer()
    codec = kafka_codec(settings)
    datadir = (settings.data_dir / "orchestrator" / settings.instance).resolve()
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        f"{settings.topic_prefix}.orchestrator",
        broker=f"kafka://{settings.bootstrap}",
        store="rocksdb://",
        datadir=str(datadir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        processing_guarantee=settings.processing_guarantee,
        broker_session_timeout=settings.orchestrator_session_timeout_s,
        broker_heartbeat_interval=max(1.0, settings.orchestrator_session_timeout_s / 4),
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        broker_commit_every=1000,
        broker_commit_interval=0.5,
    )
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes,
                           "key_serializer": "raw", "value_serializer": "raw"}
    inputs = app.topic(topics.commands, topics.reports, partitions=settings.partitions, **raw)
    commands_out = app.topic(topics.commands, partitions=settings.partitions, **raw)
    events_out = app.topic(topics.events, partitions=settings.partitions, **raw)
    work_out = app.topic(topics.work, partitions=settings.partitions, **raw)
    decisions_out = app.topic(topics.decisions, partitions=settings.partitions, **raw)
    # bytes keys and values: faust stores them raw (we serialise JobState ourselves)
    jobs = app.Table("jobs", partitions=settings.partitions, key_type=bytes, value_type=bytes)
    counters: Counter[str] = Counter()
    liveness = LivenessTracker(int(settings.heartbeat_timeout_s * 1000))
    seeded_for: set[int] = set()  # the active partitions the tracker was last seeded from
    reconciled: set[int] = set()  # input partitions whose table matches the log
    acked: dict[int, int] = {}  # events partition -> offset after the last acknowledged event
    recorded: dict[int, tuple[int, float]] = {}  # partition -> (watermark stored, when)
    gaps = InputGaps()  # the next offset each input partition must deliver
    group = f"{settings.topic_prefix}.orchestrator"

    def store_state(job_id: str, state: JobState, event: Any) -> None:
        """Store a state whose effects are all on the log (called from `pending`)."""
        partition = event.message.partition
        if partition not in active_partitions():
            return  # revoked meanwhile: its next owner reconciles the table with the log
        token = _current_event.set(weakref.ref(event))  # faust writes in an input's context
        try:
            jobs[job_id.encode()] = dump_state(state)
        except Exception:  # the table stays behind the log, which reconciliation repairs
            log.exception("state_store_failed", job_id=job_id, partition=partition)
        finally:
            _current_event.reset(token)

    def effect_failed(exc: BaseException) -> None:
        # The input's offset must not be committed: die now; the restart processes it again.
        log.critical("effect_not_on_log", error=repr(exc))
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(70)

    pending: PendingStates[JobState] = PendingStates(store_state, effect_failed)

    def current_state(job_id: str) -> JobState:
        return pending.get(job_id) or load_state(jobs.get(job_id.encode()), job_id)

    def on_event_acked(future: Any) -> None:
        if not future.cancelled() and future.exception() is None:
            meta = future.result()
            acked[meta.partition] = max(acked.get(meta.partition, 0), meta.offset + 1)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(_: Any, assigned: Any = (), **__: Any) -> None:
        # whoever held these partitions before may have died mid-input
        inputs = [(tp.topic, tp.partition) for tp in assigned
                  if tp.topic in (topics.commands, topics.reports)]
        for tp in assigned:
            if tp.topic == topics.commands:
                reconciled.discard(tp.partition)
            gaps.forget((tp.topic, tp.partition))
        # where each input partition resumes, before any of its records can be dropped
        try:
            positions = await asyncio.get_running_loop().run_in_executor(
                None, committed_positions, settings, group, inputs)
        except Exception:  # the first record of each partition is then taken as its start
            log.exception("committed_positions_unknown", partitions=len(inputs))
            return
        now = time.monotonic()
        for input_tp, offset in positions.items():
            gaps.start(input_tp, offset, now)

    async def reconcile(partition: int) -> None:
        start = int(jobs.get(WATERMARK_KEY % partition) or b"0")
        records, end = await asyncio.get_running_loop().run_in_executor(
            None, read_partition, settings, topics.events, partition, start)
        found = fold_missing(records, codec, current_state)
        now = int(time.time() * 1000)
        for job_id, state in found.states.items():
            jobs[job_id.encode()] = dump_state(state)
            liveness.observe(state, now, heard=False)
        for work in found.work:
            await work_out.send(key=work.job_id.encode(), value=codec.encode(*to_record(work)))
        jobs[WATERMARK_KEY % partition] = str(end).encode()
        acked[partition] = max(acked.get(partition, 0), end)
        recorded[partition] = (end, time.monotonic())
        if found.gaps:
            log.error("event_log_gaps", partition=partition, gaps=found.gaps[:10])
        log.info("partition_reconciled", partition=partition, start=start, end=end,
                 folded=found.folded, work_resent=len(found.work))

    def record_watermark(partition: int) -> None:
        """Store how far the log is folded into the table (changelog order keeps it true)."""
        mark = acked.get(partition, 0)
        floor = pending.floor(partition)
        if floor is not None:
            mark = min(mark, floor)
        stored, when = recorded.get(partition, (0, 0.0))
        now = time.monotonic()
        if mark > stored and (mark - stored >= 500 or now - when >= 1.0):
            jobs[WATERMARK_KEY % partition] = str(mark).encode()
            recorded[partition] = (mark, now)

    @app.agent(inputs)
    async def orchestrate(stream: Any) -> None:
        async for event in stream.events():
            partition = event.message.partition
            if partition not in reconciled:
                await reconcile(partition)
                reconciled.add(partition)
            message_tp = (event.message.topic, partition)
            verdict = gaps.verdict(message_tp, event.message.offset, time.monotonic())
            if verdict is not Verdict.DECIDE:
                # never acknowledged, so never committed: it is fetched again after the seek
                consumer: Any = app.consumer
                event.message.acked = True
                consumer._unacked_messages.discard(event.message)
                expected = gaps.expected(message_tp)
                if verdict is Verdict.SEEK and expected is not None:
                    counters["input_gaps"] += 1
                    log.warning("input_gap_refetched", topic=event.message.topic,
                                partition=partition, offset=event.message.offset,
                                expected=expected, gaps_total=counters["input_gaps"])
                    await consumer.seek_wait({event.message.tp: expected})
                continue
            key: bytes | None = event.key
            try:
                name, record = codec.decode(event.value)
                message = from_record(name, record)
            except (DecodeError, TypeError, KeyError) as exc:
                counters["poison"] += 1
                log.warning("poison_message_skipped", topic=event.message.topic,
                            partition=event.message.partition, offset=event.message.offset,
                            error=str(exc), poison_total=counters["poison"])
                await record_decision(event, "", "", "poison", type(exc).__name__, [])
                continue
            job_id = message.job_id
            if key is not None and key.decode(errors="replace") != job_id:
                counters["poison"] += 1
                log.warning("key_mismatch_skipped", key=key, job_id=job_id)
                await record_decision(event, job_id, name, "poison", "key_mismatch", [])
                continue
            state = current_state(job_id)
            new_events, ignored = decide_with_reason(state, message)
            if ignored:
                counters[f"ignored_{ignored}"] += 1
                if ignored in ("stale_attempt", "foreign_run", "terminal", "unknown_job"):
                    log.info("report_dropped", job_id=job_id, reason=ignored,
                             dropped_total=counters[f"ignored_{ignored}"])
            sent_events: list[Any] = []
            sent_work: list[Any] = []
            for new in new_events:
                state = evolve(state, new)
                sent = await events_out.send(key=job_id.encode(),
                                             value=codec.encode(*to_record(new)))
                sent.add_done_callback(on_event_acked)  # type: ignore[attr-defined]
                sent_events.append(sent)
                work = work_for(state, new)
                if work is not None:
                    sent_work.append(await work_out.send(
                        key=job_id.encode(), value=codec.encode(*to_record(work))))
                log.debug("event", job_id=job_id, type=type(new).__name__, seq=new.seq)
            if new_events:
                # stored only once the events and work items are on the log (module doc)
                pending.add(job_id, state, event, partition, sent_events, sent_work)
            await record_decision(event, job_id, name, "events" if new_events else "ignored",
                                  ignored or "", [e.seq for e in new_events])
            # any report of the run owning the attempt is a heartbeat, changed state or not
            heard = isinstance(message, Report) and message.run_id == state.run_id
            liveness.observe(state, int(time.time() * 1000), heard)
            record_watermark(partition)

    async def record_decision(event: Any, job_id: str, input_type: str, outcome: str,
                              reason: str, seqs: list[int]) -> None:
        """The input's verdict on `decisions`, in the input's partition (docs/architecture.md)."""
        message = event.message
        record = InputDecided(
            job_id=job_id, input_topic=message.topic, input_partition=message.partition,
            input_offset=message.offset, input_type=input_type, outcome=outcome,
            reason=reason, event_seqs=seqs, instance=settings.instance,
            decided_at=int(time.time() * 1000))
        sent = await decisions_out.send(key=job_id.encode(), partition=message.partition,
                                        value=codec.encode(*to_record(record)))
        pending.watch(sent)  # type: ignore[arg-type]

    @app.timer(interval=1.0)
    async def refetch_stalled_inputs() -> None:
        """A dropped record with nothing after it shows no hole to the agent: compare the
        fetch position with what the decider saw (`orchestrator.input_gaps`)."""
        consumer: Any = app.consumer
        try:
            for tp in list(consumer.assignment()):
                if tp.topic not in (topics.commands, topics.reports):
                    continue
                position = await consumer._thread.position(tp)
                if gaps.stalled((tp.topic, tp.partition), position, time.monotonic()):
                    expected = gaps.expected((tp.topic, tp.partition))
                    counters["input_gaps"] += 1
                    log.warning("input_stall_refetched", topic=tp.topic, partition=tp.partition,
                                position=position, expected=expected,
                                gaps_total=counters["input_gaps"])
                    await consumer.seek_wait({tp: expected})
        except Exception:  # e.g. mid-rebalance; the next tick looks again
            log.info("input_stall_check_skipped", exc_info=True)

    def active_partitions() -> set[int]:
        return {tp.partition for tp in app.consumer.assignment() if tp.topic == topics.commands}

    @app.timer(interval=max(0.5, settings.heartbeat_timeout_s / 4))
    async def check_liveness() -> None:
        try:
            await find_silent_workers()
        except Exception:  # an error here must not take the stream processor down
            log.exception("liveness_check_failed")

    async def find_silent_workers() -> None:
        now = int(time.time() * 1000)
        active = active_partitions()
        if active != seeded_for:
            # after a start or a rebalance: learn the running jobs of the partitions we own
            # (the table also holds standby copies of other workers' partitions: skip them)
            liveness.reseed((load_state(v, k.decode()) for k, v in list(jobs.items())
                             if not k.startswith(b"\x00")  # watermarks, not jobs
                             and partition_of(k, settings.partitions) in active), now)
            seeded_for.clear()
            seeded_for.update(active)
        for job_id, attempt in liveness.silent(now):
            tick = WorkerSilent(job_id=job_id, attempt=attempt, now=now,
                                max_attempts=settings.max_attempts)
            await commands_out.send(key=job_id.encode(), value=codec.encode(*to_record(tick)))
            log.warning("worker_silent", job_id=job_id, attempt=attempt)

    return app


def partition_of(key: bytes, partitions: int) -> int:
    """The Java/aiokafka default partitioner: murmur2 of the key, positive, modulo."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def main() -> None:
    from pipai.topics import ensure_topics

    settings = Settings.from_env()
    ensure_topics(settings)
    app = build_app(settings)
    sys.argv = ["orchestrator", "worker", "--loglevel", "warn", "--without-web"]
    app.main()


if __name__ == "__main__":
    main()
