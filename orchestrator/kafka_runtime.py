"""The orchestrator's default runtime: the `Orchestrator` class over the Kafka adapter
layer (`pipai.kafka`), one confluent-kafka consumer group, a local RocksDB table.

faust cost the orchestrator most of its time in its own delivery machinery (fetcher,
conductor, stream, per-record acks) around the decider (docs/performance.md,
"Orchestrator"). This runtime implements the same ports (`orchestrator.ports`) with
librdkafka and rocksdict and drives the same class, batch by batch:

- a consumer of `commands` and `reports` in the orchestrator's group, range-assigned
  (so one member owns the same partition numbers of both topics: a job's commands and
  reports reach the same instance); a batch is what the consumer has at hand, up to
  `BATCH`, without waiting when something is there and up to `IDLE_WAIT_S` when not;
- inputs are acknowledged by the class once their effects are on the log, in offset
  order (`orchestrator.input_acks`); the acknowledged prefix is committed every
  `COMMIT_EVERY_S` and when partitions are revoked, never past an input in flight;
- the job table is a RocksDB database of this instance (`RocksJobTable`); it has no
  changelog because the events topic is the truth it is folded from: at assignment
  every partition is reconciled with the log from the table's own watermark
  (`Orchestrator.reconcile`), which for a partition never held here is the whole
  partition. A partition that moves away and back is read again only from where this
  instance had folded it;
- the liveness and stall timers run between batches.

The guarantees are those of docs/architecture.md, "Delivery guarantee of the
orchestrator". Under `exactly_once` (Kafka transactions) the faust runtime is used
(`orchestrator.app`).
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition
from rocksdict import Options, Rdict

from jobs import messages
from orchestrator.kafka_log import KafkaLog
from orchestrator.log_reads import KafkaLogReader, SystemClock, exit_on_effect_failure
from orchestrator.orchestrator import Orchestrator
from orchestrator.ports import TP, InputRecord, Out
from pipai.kafka.clients import new_consumer
from pipai.kafka.codec import message_codec
from pipai.log import get_logger
from pipai.settings import Settings
from pipai.topics import Groups, Topics

log = get_logger("orchestrator")
BATCH = 1000  # inputs taken per round at most
IDLE_WAIT_S = 0.05  # how long one round waits for a first input when there is none
COMMIT_EVERY_S = 0.2
STALL_CHECK_EVERY_S = 1.0


class RocksJobTable:
    """`orchestrator.ports.JobTable` over a RocksDB database of this instance."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self._db = Rdict(str(path), options=Options(raw_mode=True))

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._db.get(key)
        return value

    def set(self, key: bytes, value: bytes, within: InputRecord | None = None) -> None:
        self._db[key] = value

    def items(self) -> list[tuple[bytes, bytes]]:
        return [(k, v) for k, v in self._db.items()
                if isinstance(k, bytes) and isinstance(v, bytes)]  # raw mode: always

    def close(self) -> None:
        self._db.close()


class KafkaInputConsumer:
    """`orchestrator.ports.InputConsumer` over the group's confluent-kafka consumer."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self.assignment: set[TP] = set()
        self._acked: dict[TP, int] = {}  # tp -> the next offset to commit
        self._committed: dict[TP, int] = {}
        # the rebalance callbacks run on whichever thread polls (the event loop's, or the
        # executor's while the loop resolves acknowledgements): one lock for the offsets
        self._lock = threading.Lock()

    def assigned(self) -> set[TP]:
        return set(self.assignment)

    def owns(self, tp: TP) -> bool:
        return tp in self.assignment

    def skip(self, record: InputRecord) -> None:
        """Nothing to do: an input never acknowledged is never committed."""

    def ack(self, record: InputRecord) -> None:
        tp = (record.topic, record.partition)
        # in order per partition (input_acks), and every offset below a decided one was
        # decided before it (input_gaps), so the highest is the commit point
        with self._lock:
            if record.offset + 1 > self._acked.get(tp, -1):
                self._acked[tp] = record.offset + 1

    async def seek(self, tp: TP, offset: int) -> None:
        self.consumer.seek(TopicPartition(tp[0], tp[1], offset))

    async def position(self, tp: TP) -> int | None:
        [found] = self.consumer.position([TopicPartition(tp[0], tp[1])])
        return found.offset if found.offset >= 0 else None

    def commit(self, only: set[TP] | None = None, wait: bool = False) -> None:
        """Commit the acknowledged prefix of every owned (or only the given) partition."""
        with self._lock:
            due = [TopicPartition(t, p, offset) for (t, p), offset in self._acked.items()
                   if (only is None or (t, p) in only) and (t, p) in self.assignment
                   and offset > self._committed.get((t, p), -1)]
            if not due:
                return
            for tp in due:
                self._committed[(tp.topic, tp.partition)] = tp.offset
        try:
            if wait:
                self.consumer.commit(offsets=due, asynchronous=False)
            else:
                self.consumer.commit(offsets=due, asynchronous=True)
        except Exception:  # e.g. mid-rebalance: the inputs are decided again, harmlessly
            log.info("input_commit_failed", partitions=len(due), exc_info=True)

    def assign(self, tps: list[TP]) -> None:
        with self._lock:
            self.assignment |= set(tps)

    def forget(self, tps: set[TP]) -> None:
        with self._lock:
            for tp in tps:
                self._acked.pop(tp, None)
                self._committed.pop(tp, None)
            self.assignment -= tps


class KafkaRuntime:
    """Runs an `Orchestrator` over confluent-kafka until stopped."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        topics = Topics.for_prefix(settings.topic_prefix)
        self.inputs = [topics.commands, topics.reports]
        group = Groups.for_prefix(settings.topic_prefix).orchestrator
        datadir = (settings.data_dir / "orchestrator" / settings.instance).resolve()
        self.table = RocksJobTable(datadir / "jobs.rocksdb")
        self.log = KafkaLog(settings, {Out.EVENTS: topics.events, Out.WORK: topics.work,
                                       Out.DECISIONS: topics.decisions,
                                       Out.COMMANDS: topics.commands})
        session_ms = int(settings.orchestrator_session_timeout_s * 1000)
        self.input = KafkaInputConsumer(new_consumer(
            settings, group, **{"partition.assignment.strategy": "range",
                                "session.timeout.ms": session_ms,
                                "heartbeat.interval.ms": max(1000, session_ms // 4)}))
        self.core = Orchestrator(settings, message_codec(settings, messages), self.table,
                                 self.log, self.input, KafkaLogReader(settings, topics.events,
                                                                      group),
                                 SystemClock(), exit_on_effect_failure)
        self._assigned: list[list[TP]] = []  # assignments seen by the callbacks, to handle
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.log.start(loop)
        self.input.consumer.subscribe(self.inputs, on_assign=self._on_assign,
                                      on_revoke=self._on_revoke, on_lost=self._on_lost)
        log.info("orchestrator_started", runtime="kafka", instance=self.settings.instance)
        timers = _Timers(max(0.5, self.settings.heartbeat_timeout_s / 4))
        try:
            while not self._stop.is_set():
                batch = await self._next_batch(loop)
                await self._handle_assignments()
                for msg in batch:
                    await self._handle(msg)
                now = time.monotonic()
                if timers.due("commit", COMMIT_EVERY_S, now):
                    self.input.commit()
                if timers.due("stall", STALL_CHECK_EVERY_S, now):
                    await self.core.on_stall_timer()
                if timers.due("liveness", timers.liveness_every, now):
                    await self.core.on_liveness_timer()
        finally:
            self._close()

    async def _next_batch(self, loop: asyncio.AbstractEventLoop) -> list[Message]:
        """What the consumer has at hand (no wait), else the first input within
        IDLE_WAIT_S (off the event loop, so acknowledgements keep flowing) and the rest."""
        consumer = self.input.consumer
        batch = consumer.consume(BATCH, timeout=0)
        if batch:
            return batch
        first = await loop.run_in_executor(None, consumer.poll, IDLE_WAIT_S)
        if first is None:
            return []
        return [first, *consumer.consume(BATCH - 1, timeout=0)]

    async def _handle(self, msg: Message) -> None:
        error = msg.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                log.warning("input_consume_error", error=str(error))
            return
        await self.core.on_input(InputRecord(str(msg.topic()), int(msg.partition() or 0),
                                             int(msg.offset() or 0), msg.key(), msg.value()))

    async def _handle_assignments(self) -> None:
        """Reconcile newly assigned partitions with the log before their first input."""
        while self._assigned:
            assigned = self._assigned.pop(0)
            await self.core.on_partitions_assigned(assigned)
            for partition in sorted({p for t, p in assigned if t == self.inputs[0]}):
                await self.core.reconcile(partition)
                self.core.reconciled.add(partition)

    # librdkafka calls these from inside poll/consume, on whichever thread called it
    def _on_assign(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        tps = [(tp.topic, tp.partition) for tp in partitions]
        self.input.assign(tps)
        self._assigned.append(tps)
        log.info("partitions_assigned", partitions=sorted(tps))

    def _on_revoke(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        tps = {(tp.topic, tp.partition) for tp in partitions}
        self.input.commit(only=tps, wait=True)  # what is decided and on the log
        self.input.forget(tps)
        log.info("partitions_revoked", partitions=sorted(tps))

    def _on_lost(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        self.input.forget({(tp.topic, tp.partition) for tp in partitions})
        log.warning("partitions_lost", partitions=len(partitions))

    def _close(self) -> None:
        try:
            self.input.commit(wait=True)
        finally:
            self.input.consumer.close()
            self.log.close()
            self.table.close()


class _Timers:
    def __init__(self, liveness_every: float) -> None:
        self.liveness_every = liveness_every
        self._last: dict[str, float] = {}

    def due(self, name: str, every: float, now: float) -> bool:
        if now - self._last.setdefault(name, now) >= every:
            self._last[name] = now
            return True
        return False


def run(settings: Settings) -> None:
    runtime = KafkaRuntime(settings)

    async def main() -> Any:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, runtime.stop)
        await runtime.run()

    asyncio.run(main())
