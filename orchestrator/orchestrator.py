"""The orchestrator: a loop around the pure decider, one method per moment of its life.

- `on_partitions_assigned`: whoever held the partitions before may have died
  mid-input; learn where each input partition resumes (gapless input) and mark the
  partitions for reconciliation.
- `on_input`: a record of `commands` or `reports`. The first of a partition
  reconciles the table with the events the log already holds
  (`orchestrator.reconcile`); a record past a hole is skipped unacknowledged and the
  consumer seeks back (`orchestrator.input_gaps`); otherwise load the job's state,
  `decide`, append the events (and RunBacktest work), fold them with `evolve`, and
  keep the state pending until every effect is acknowledged
  (`orchestrator.pending`); every input leaves an `InputDecided` record.
- `on_liveness_timer`: running attempts silent for the heartbeat timeout get a
  `WorkerSilent` input on `commands`.
- `on_stall_timer`: a dropped record with nothing after it shows no hole, so the
  fetch position is compared with what the decider saw.

The runtime (faust, `orchestrator.app`) calls these methods; everything it provides
comes in through `orchestrator.ports`. The guarantees are in docs/architecture.md,
"Delivery guarantee of the orchestrator".
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka.partitioner import murmur2

from jobs.decider import Aggregate, Effect, JobState, decide_with_reason, effects_for, evolve
from jobs.liveness import LivenessTracker
from jobs.messages import InputDecided, Report, RunBacktest, WorkerSilent, aggregate_of
from jobs.state_codec import dump_state, load_state
from orchestrator.input_acks import InOrderAcks
from orchestrator.input_gaps import InputGaps, Verdict
from orchestrator.pending import PendingStates
from orchestrator.ports import (
    TP,
    Ack,
    Clock,
    InputConsumer,
    InputRecord,
    JobTable,
    Log,
    LogReader,
    Out,
)
from orchestrator.reconcile import WATERMARK_KEY, fold_missing
from pipai.kafka.codec import MessageCodec, PoisonLog, PoisonMessage
from pipai.log import get_logger
from pipai.settings import Settings
from pipai.topics import Topics

log = get_logger("orchestrator")

# reasons a report is dropped that are worth a log line (the others are routine retries)
_LOGGED_DROPS = ("stale_attempt", "foreign_run", "terminal", "unknown_job")


def partition_of(key: bytes, partitions: int) -> int:
    """The Java/aiokafka default partitioner: murmur2 of the key, positive, modulo."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class Orchestrator:
    """Decides every input of its partitions; its bookkeeping lives in its fields."""

    def __init__(self, settings: Settings, codec: MessageCodec, table: JobTable, log_: Log,
                 consumer: InputConsumer, reader: LogReader, clock: Clock,
                 on_effect_failed: Callable[[BaseException], None]) -> None:
        topics = Topics.for_prefix(settings.topic_prefix)
        self.commands_topic = topics.commands
        self.input_topics = (topics.commands, topics.reports)
        self.instance = settings.instance
        self.partitions = settings.partitions
        self.max_attempts = settings.max_attempts
        self.codec, self.table, self.log = codec, table, log_
        self.consumer, self.reader, self.clock = consumer, reader, clock
        # decided states waiting for their effects' acknowledgements (write-behind)
        self.pending: PendingStates[Aggregate] = PendingStates(self._store_state,
                                                              on_effect_failed)
        self.gaps = InputGaps()  # the next offset each input partition must deliver
        self.acks = InOrderAcks(consumer.ack)  # inputs whose effects are not all on the log
        self.liveness = LivenessTracker(int(settings.heartbeat_timeout_s * 1000))
        self.counters: Counter[str] = Counter()
        self.poison = PoisonLog(log)
        self.reconciled: set[int] = set()  # input partitions whose table matches the log
        self.seeded_for: set[int] = set()  # the partitions liveness was last seeded from
        self.acked: dict[int, int] = {}  # events partition -> offset after the last acked
        self.recorded: dict[int, tuple[int, float]] = {}  # partition -> (watermark, when)

    # ---- lifecycle ------------------------------------------------------------------

    async def on_partitions_assigned(self, assigned: Iterable[TP]) -> None:
        """Whoever held these partitions before may have died mid-input."""
        assigned = list(assigned)
        inputs = [tp for tp in assigned if tp[0] in self.input_topics]
        self.acks.forget(assigned)
        for topic, partition in assigned:
            if topic == self.commands_topic:
                self.reconciled.discard(partition)
            self.gaps.forget((topic, partition))
        # where each input partition resumes, before any of its records can be dropped
        try:
            positions = await self.reader.committed(inputs)
        except Exception:  # the first record of each partition is then taken as its start
            log.exception("committed_positions_unknown", partitions=len(inputs))
            return
        now = self.clock.monotonic()
        for tp, offset in positions.items():
            self.gaps.start(tp, offset, now)

    async def on_input(self, record: InputRecord) -> None:
        """Decide one record of `commands` or `reports`."""
        if record.partition not in self.reconciled:
            await self.reconcile(record.partition)
            self.reconciled.add(record.partition)
        if not await self._admit(record):
            return
        decoded = await self._decode(record)
        if isinstance(decoded, tuple):
            effects = await self._decide(record, *decoded)
        else:  # poison: its decision record is its one effect
            effects = [decoded]
        # acknowledged (so committed) once its effects are on the log, in offset order
        self.acks.track(record, effects)

    async def on_liveness_timer(self) -> None:
        try:
            await self._find_silent_workers()
        except Exception:  # an error here must not take the stream processor down
            log.exception("liveness_check_failed")

    async def on_stall_timer(self) -> None:
        """A dropped record with nothing after it shows no hole to `on_input`: compare
        the fetch position with what the decider saw (`orchestrator.input_gaps`)."""
        try:
            for tp in list(self.consumer.assigned()):
                if tp[0] not in self.input_topics:
                    continue
                position = await self.consumer.position(tp)
                expected = self.gaps.expected(tp)
                if self.gaps.stalled(tp, position, self.clock.monotonic()) \
                        and expected is not None:
                    self.counters["input_gaps"] += 1
                    log.warning("input_stall_refetched", topic=tp[0], partition=tp[1],
                                position=position, expected=expected,
                                gaps_total=self.counters["input_gaps"])
                    await self.consumer.seek(tp, expected)
        except Exception:  # e.g. mid-rebalance; the next tick looks again
            log.info("input_stall_check_skipped", exc_info=True)

    async def reconcile(self, partition: int) -> None:
        """Fold into the table the events of `partition` the log holds beyond it."""
        start = int(self.table.get(WATERMARK_KEY % partition) or b"0")
        records, end = await self.reader.read_events(partition, start)
        found = fold_missing(records, self.codec, self.current_state)
        now = self.clock.now_ms()
        for job_id, state in found.states.items():
            self.table.set(job_id.encode(), dump_state(state))
            self.liveness.observe(state, now, heard=False)
        for effect in found.effects:
            await self._send_effect(effect)
        self.table.set(WATERMARK_KEY % partition, str(end).encode())
        self.acked[partition] = max(self.acked.get(partition, 0), end)
        self.recorded[partition] = (end, self.clock.monotonic())
        if found.gaps:
            log.error("event_log_gaps", partition=partition, gaps=found.gaps[:10])
        log.info("partition_reconciled", partition=partition, start=start, end=end,
                 folded=found.folded, effects_resent=len(found.effects))

    def current_state(self, job_id: str) -> Aggregate:
        """The newest decided state: pending if its effects are in flight, else stored."""
        return self.pending.get(job_id) or load_state(self.table.get(job_id.encode()), job_id)

    def active_partitions(self) -> set[int]:
        return {p for topic, p in self.consumer.assigned() if topic == self.commands_topic}

    # ---- one input ------------------------------------------------------------------

    async def _admit(self, record: InputRecord) -> bool:
        """True if `record` is the next offset its partition owes the decider."""
        tp = (record.topic, record.partition)
        verdict = self.gaps.verdict(tp, record.offset, self.clock.monotonic())
        if verdict is Verdict.DECIDE:
            return True
        # never acknowledged, so never committed: it is fetched again after the seek
        self.consumer.skip(record)
        expected = self.gaps.expected(tp)
        if verdict is Verdict.SEEK and expected is not None:
            self.counters["input_gaps"] += 1
            log.warning("input_gap_refetched", topic=record.topic, partition=record.partition,
                        offset=record.offset, expected=expected,
                        gaps_total=self.counters["input_gaps"])
            await self.consumer.seek(tp, expected)
        return False

    async def _decode(self, record: InputRecord) -> tuple[str, Any] | asyncio.Future[Ack]:
        """(record name, message), or for poison the send of its decision record."""
        try:
            message = self.codec.decode(record.value, record.topic, record.partition,
                                        record.offset)
        except PoisonMessage as poison:
            self.counters["poison"] += 1
            self.poison.skip(poison)
            return await self._record_decision(record, "", "", "poison", poison.cause, [])
        name = type(message).__name__  # each class is named like its Avro record
        job_id = aggregate_of(message)
        if record.key is not None and record.key.decode(errors="replace") != job_id:
            self.counters["poison"] += 1
            log.warning("key_mismatch_skipped", key=record.key, job_id=job_id)
            return await self._record_decision(record, job_id, name, "poison",
                                               "key_mismatch", [])
        return name, message

    async def _decide(self, record: InputRecord, name: str,
                      message: Any) -> list[asyncio.Future[Ack]]:
        """Decide, append the effects, keep the state pending; the sends of every effect."""
        job_id = aggregate_of(message)
        key = job_id.encode()
        state = self.current_state(job_id)
        new_events, ignored = decide_with_reason(state, message)
        if ignored:
            self.counters[f"ignored_{ignored}"] += 1
            if ignored in _LOGGED_DROPS:
                log.info("report_dropped", job_id=job_id, reason=ignored,
                         dropped_total=self.counters[f"ignored_{ignored}"])
        sent_events: list[asyncio.Future[Ack]] = []
        sent_work: list[asyncio.Future[Ack]] = []
        for new in new_events:
            state = evolve(state, new)
            sent = await self.log.send(Out.EVENTS, key, self._encode(new))
            sent.add_done_callback(self._on_event_acked)
            sent_events.append(sent)
            for effect in effects_for(state, new):
                sent_work.append(await self._send_effect(effect))
            log.debug("event", job_id=job_id, type=type(new).__name__, seq=new.seq)
        if new_events:
            # stored only once the events and work items are on the log (module doc)
            self.pending.add(job_id, state, record, record.partition, sent_events, sent_work)
        decision = await self._record_decision(record, job_id, name,
                                               "events" if new_events else "ignored",
                                               ignored or "", [e.seq for e in new_events])
        # any report of the run owning the attempt is a heartbeat, changed state or not
        heard = (isinstance(message, Report) and isinstance(state, JobState)
                 and message.run_id == state.run_id)
        self.liveness.observe(state, self.clock.now_ms(), heard)
        self._record_watermark(record.partition)
        return [*sent_events, *sent_work, decision]

    async def _send_effect(self, effect: Effect) -> asyncio.Future[Ack]:
        """A work item to `work`, a command (a sweep's to its children, a child's end to
        its sweep) to `commands`, keyed by the aggregate that decides it."""
        out = Out.WORK if isinstance(effect, RunBacktest) else Out.COMMANDS
        return await self.log.send(out, aggregate_of(effect).encode(), self._encode(effect))

    async def _record_decision(self, record: InputRecord, job_id: str, input_type: str,
                               outcome: str, reason: str,
                               seqs: list[int]) -> asyncio.Future[Ack]:
        """The input's verdict on `decisions`, in the input's partition (docs/architecture.md)."""
        decided = InputDecided(
            job_id=job_id, input_topic=record.topic, input_partition=record.partition,
            input_offset=record.offset, input_type=input_type, outcome=outcome,
            reason=reason, event_seqs=seqs, instance=self.instance,
            decided_at=self.clock.now_ms())
        sent = await self.log.send(Out.DECISIONS, job_id.encode(), self._encode(decided),
                                   partition=record.partition)
        self.pending.watch(sent)
        return sent

    # ---- acknowledgements and the table ------------------------------------------------

    def _on_event_acked(self, future: asyncio.Future[Ack]) -> None:
        if not future.cancelled() and future.exception() is None:
            meta = future.result()
            self.acked[meta.partition] = max(self.acked.get(meta.partition, 0), meta.offset + 1)

    def _store_state(self, job_id: str, state: Aggregate, record: InputRecord) -> None:
        """Store a state whose effects are all on the log (called from `pending`)."""
        if not self.consumer.owns((self.commands_topic, record.partition)):
            return  # revoked meanwhile: its next owner reconciles the table with the log
        try:
            self.table.set(job_id.encode(), dump_state(state), within=record)
        except Exception:  # the table stays behind the log, which reconciliation repairs
            log.exception("state_store_failed", job_id=job_id, partition=record.partition)

    def _record_watermark(self, partition: int) -> None:
        """Store how far the log is folded into the table (changelog order keeps it true)."""
        mark = self.acked.get(partition, 0)
        floor = self.pending.floor(partition)
        if floor is not None:
            mark = min(mark, floor)
        stored, when = self.recorded.get(partition, (0, 0.0))
        now = self.clock.monotonic()
        if mark > stored and (mark - stored >= 500 or now - when >= 1.0):
            self.table.set(WATERMARK_KEY % partition, str(mark).encode())
            self.recorded[partition] = (mark, now)

    # ---- liveness -------------------------------------------------------------------

    async def _find_silent_workers(self) -> None:
        now = self.clock.now_ms()
        active = self.active_partitions()
        if active != self.seeded_for:
            self._reseed_liveness(active, now)
        for job_id, attempt in self.liveness.silent(now):
            tick = WorkerSilent(job_id=job_id, attempt=attempt, now=now,
                                max_attempts=self.max_attempts)
            await self.log.send(Out.COMMANDS, job_id.encode(), self._encode(tick))
            log.warning("worker_silent", job_id=job_id, attempt=attempt)

    def _reseed_liveness(self, active: set[int], now: int) -> None:
        """After a start or a rebalance: learn the running jobs of the partitions we own
        (the table also holds standby copies of other workers' partitions: skip them)."""
        self.liveness.reseed((load_state(v, k.decode()) for k, v in list(self.table.items())
                              if not k.startswith(b"\x00")  # watermarks, not jobs
                              and partition_of(k, self.partitions) in active), now)
        self.seeded_for = set(active)

    def _encode(self, message: Any) -> bytes:
        return self.codec.encode(message)
