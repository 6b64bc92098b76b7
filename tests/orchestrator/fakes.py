"""In-memory implementations of the orchestrator's own ports (`orchestrator.ports`).

A table in a dict, a log of lists whose acknowledgements the test releases, a
consumer that records skips and seeks, a reader over that same log and a clock
the test moves: enough to drive `Orchestrator` with no broker and no faust.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from jobs import messages
from jobs.messages import Metrics
from orchestrator.orchestrator import Orchestrator, partition_of
from orchestrator.ports import TP, Ack, InputRecord, Out
from pipai.kafka.codec import MessageCodec
from pipai.settings import Settings
from pipai.topics import Topics
from schemas.codec import default_codec

SETTINGS = Settings(partitions=2, heartbeat_timeout_s=10.0, max_attempts=2,
                    instance="test-1", topic_prefix="t")
TOPICS = Topics.for_prefix(SETTINGS.topic_prefix)
METRICS = Metrics(sharpe="1.5", sortino=None, calmar=None, max_drawdown="0.1",
                  win_rate="0.5", profit_factor=None, cagr=None, expected_value=None,
                  total_trades=3, avg_trade_duration_seconds=60)

CODEC = MessageCodec(default_codec(), messages)  # the orchestrator's, without a broker


@dataclass(frozen=True)
class Meta:
    partition: int
    offset: int


class MemoryTable:
    def __init__(self, data: dict[bytes, bytes] | None = None) -> None:
        self.data: dict[bytes, bytes] = dict(data or {})
        self.within: list[InputRecord | None] = []  # the input each write belonged to

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def set(self, key: bytes, value: bytes, within: InputRecord | None = None) -> None:
        self.data[key] = value
        self.within.append(within)

    def items(self) -> list[tuple[bytes, bytes]]:
        return list(self.data.items())


@dataclass
class MemoryLog:
    """Every output's records per partition; acks wait in `held` unless `auto_ack`."""

    auto_ack: bool = True
    records: dict[Out, dict[int, list[tuple[bytes, bytes]]]] = field(
        default_factory=lambda: {out: {} for out in Out})
    held: list[tuple[asyncio.Future[Ack], Meta]] = field(default_factory=list)

    async def send(self, out: Out, key: bytes, value: bytes,
                   partition: int | None = None) -> asyncio.Future[Ack]:
        if partition is None:
            partition = partition_of(key, SETTINGS.partitions)
        records = self.records[out].setdefault(partition, [])
        records.append((key, value))
        future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        meta = Meta(partition, len(records) - 1)
        if self.auto_ack:
            future.set_result(meta)
        else:
            self.held.append((future, meta))
        return future

    def ack(self, count: int | None = None) -> None:
        """Acknowledge the first `count` held sends (all by default)."""
        count = len(self.held) if count is None else count
        for future, meta in self.held[:count]:
            future.set_result(meta)
        del self.held[:count]

    def fail_all(self, exc: BaseException) -> None:
        for future, _ in self.held:
            future.set_exception(exc)
        self.held.clear()

    def messages(self, out: Out, partition: int | None = None) -> list[Any]:
        """The decoded messages of `out` (of one partition, or all in partition order)."""
        parts = [partition] if partition is not None else sorted(self.records[out])
        return [CODEC.decode(value)
                for p in parts for _, value in self.records[out].get(p, [])]


@dataclass
class MemoryConsumer:
    assignment: set[TP] = field(default_factory=lambda: {
        (topic, p) for topic in (TOPICS.commands, TOPICS.reports)
        for p in range(SETTINGS.partitions)})
    positions: dict[TP, int] = field(default_factory=dict)
    skipped: list[InputRecord] = field(default_factory=list)
    acked: list[InputRecord] = field(default_factory=list)
    seeks: list[tuple[TP, int]] = field(default_factory=list)

    def assigned(self) -> set[TP]:
        return set(self.assignment)

    def owns(self, tp: TP) -> bool:
        return tp in self.assignment

    def skip(self, record: InputRecord) -> None:
        self.skipped.append(record)

    def ack(self, record: InputRecord) -> None:
        self.acked.append(record)

    async def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))

    async def position(self, tp: TP) -> int | None:
        return self.positions.get(tp)


@dataclass
class MemoryReader:
    """Reads `events` from the same in-memory log; every group resumes at `committed`."""

    log: MemoryLog
    committed_at: dict[TP, int] = field(default_factory=dict)
    reads: list[tuple[int, int]] = field(default_factory=list)  # (partition, start)

    async def committed(self, tps: list[TP]) -> dict[TP, int]:
        return {tp: self.committed_at.get(tp, 0) for tp in tps}

    async def read_events(self, partition: int,
                          start: int) -> tuple[list[tuple[int, bytes]], int]:
        self.reads.append((partition, start))
        values = self.log.records[Out.EVENTS].get(partition, [])
        return [(offset, value) for offset, (_, value) in enumerate(values)
                if offset >= start], len(values)


@dataclass
class FakeClock:
    ms: int = 1_700_000_000_000
    mono: float = 1000.0

    def now_ms(self) -> int:
        return self.ms

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.ms += int(seconds * 1000)
        self.mono += seconds


class Rig:
    """An orchestrator over in-memory ports, and a way to put records on its inputs."""

    def __init__(self, log: MemoryLog | None = None, table: MemoryTable | None = None,
                 clock: FakeClock | None = None) -> None:
        self.codec = CODEC
        self.log = log or MemoryLog()
        self.table = table or MemoryTable()
        self.consumer = MemoryConsumer()
        self.reader = MemoryReader(self.log)
        self.clock = clock or FakeClock()
        self.failures: list[BaseException] = []
        self.next_offset: dict[TP, int] = {}
        self.orchestrator = Orchestrator(SETTINGS, self.codec, self.table, self.log,
                                         self.consumer, self.reader, self.clock,
                                         self.failures.append)

    def record(self, message: Any, topic: str | None = None, offset: int | None = None,
               key: bytes | None = None, value: bytes | None = None) -> InputRecord:
        """An input record of `message`, at the next offset of its partition by default."""
        job_id: str = message.job_id
        topic = topic or (TOPICS.commands if type(message).__name__ in
                          ("SubmitJob", "CancelJob", "WorkerSilent") else TOPICS.reports)
        partition = partition_of(job_id.encode(), SETTINGS.partitions)
        tp = (topic, partition)
        if offset is None:
            offset = self.next_offset.get(tp, 0)
        self.next_offset[tp] = max(self.next_offset.get(tp, 0), offset + 1)
        if value is None:
            value = self.codec.encode(message)
        return InputRecord(topic, partition, offset, key or job_id.encode(), value)

    def commit(self) -> None:
        """The group commits every input fed so far (where a new assignment resumes)."""
        self.reader.committed_at.update(self.next_offset)

    async def feed(self, message: Any, **kwargs: Any) -> InputRecord:
        record = self.record(message, **kwargs)
        await self.orchestrator.on_input(record)
        await settle()
        return record


async def settle() -> None:
    """Let done-callbacks (scheduled with call_soon) run."""
    for _ in range(3):
        await asyncio.sleep(0)


def run(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """No asyncio plugin here: each test runs its own event loop."""
    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))
    return wrapper
