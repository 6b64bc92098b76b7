"""What the orchestrator needs from its runtime, as small interfaces (Protocols).

`orchestrator.orchestrator.Orchestrator` decides; faust runs it. Everything faust
(or Kafka) provides is reached through one of these: the job table, the producer
that appends to the log and hands back an acknowledgement future, the input
consumer (assignment, fetch positions, seeks, skipping a record unacknowledged),
the reads of the log at assignment, and the clock. `orchestrator.faust_runtime`
implements them over faust; the unit tests implement them in memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

TP = tuple[str, int]  # (topic, partition)


class Out(Enum):
    """The topics the orchestrator writes to."""

    EVENTS = "events"
    WORK = "work"
    DECISIONS = "decisions"
    COMMANDS = "commands"  # WorkerSilent, decided in the job's partition like any input


@dataclass(frozen=True, slots=True)
class InputRecord:
    """One record of `commands` or `reports` as the consumer delivered it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    # the runtime's own handle on the record (faust's event): a state stored later, from
    # an acknowledgement callback, is written in its context
    context: Any = None


class Ack(Protocol):
    """Where the broker put an appended record."""

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...


class JobTable(Protocol):
    """The job table (RocksDB, changelogged): job_id or watermark key -> bytes."""

    def get(self, key: bytes) -> bytes | None: ...

    def set(self, key: bytes, value: bytes, within: InputRecord | None = None) -> None:
        """Store; `within` is the input the write belongs to when called outside its
        processing (the changelog partition follows it)."""

    def items(self) -> Iterable[tuple[bytes, bytes]]: ...


class Log(Protocol):
    """The producer: appends a record and returns a future of its acknowledgement."""

    async def send(self, out: Out, key: bytes, value: bytes,
                   partition: int | None = None) -> asyncio.Future[Ack]: ...


class InputConsumer(Protocol):
    """The consumer of `commands` and `reports` (and what it is assigned)."""

    def assigned(self) -> set[TP]: ...

    def owns(self, tp: TP) -> bool:
        """Whether `tp` is assigned now (one lookup, for the per-input path)."""

    def skip(self, record: InputRecord) -> None:
        """Drop `record` without acknowledging it, so its offset is never committed."""

    def ack(self, record: InputRecord) -> None:
        """`record` is decided and its effects are on the log: its offset may be committed."""

    async def seek(self, tp: TP, offset: int) -> None: ...

    async def position(self, tp: TP) -> int | None: ...


class LogReader(Protocol):
    """Reads of the log at assignment (blocking clients, run off the event loop)."""

    async def committed(self, tps: list[TP]) -> dict[TP, int]:
        """Where the group resumes each input partition."""

    async def read_events(self, partition: int,
                          start: int) -> tuple[list[tuple[int, bytes]], int]:
        """(offset, value) of `events` from `start` to its end, and the end."""


class Clock(Protocol):
    def now_ms(self) -> int:
        """Wall time, Unix ms (on decisions and liveness)."""

    def monotonic(self) -> float:
        """Seconds, for intervals (input gaps, watermark pacing)."""
