"""Acknowledge each input only once its effects are on the log, in offset order.

The runtime commits an input partition's offset up to the inputs acknowledged so
far. faust would acknowledge an input as soon as the agent moved on, and flush
its producer before every commit to make that safe; with the effects on another
producer (`orchestrator.kafka_log`) that flush was a stall of the whole fetcher
(docs/performance.md, "Orchestrator"). Here an input is acknowledged when every
record it produced — events, work items, its decision record — has been
acknowledged by the broker, so a commit never needs to wait for anything.

In order: faust's commit steps over a one-record hole at the head of the
acknowledged offsets (docs/architecture.md, "Gapless input"), and effects of two
inputs reach different partitions, so their acknowledgements can come out of
order. An input is released only after every input the partition delivered
before it, so the acknowledged offsets of a partition are always a prefix.

No Kafka and no faust here: effects are asyncio futures, acknowledging is a callback.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from orchestrator.ports import TP, InputRecord


class _Entry:
    __slots__ = ("record", "remaining", "failed")

    def __init__(self, record: InputRecord, remaining: int) -> None:
        self.record = record
        self.remaining = remaining
        self.failed = False


class InOrderAcks:
    """Per input partition, the inputs decided but not yet acknowledged, in arrival order."""

    def __init__(self, ack: Callable[[InputRecord], None]) -> None:
        self._ack = ack
        self._waiting: dict[TP, deque[_Entry]] = {}

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._waiting.values())

    def track(self, record: InputRecord, effects: list[asyncio.Future[Any]]) -> None:
        """Acknowledge `record` once all `effects` succeeded and every earlier input of
        its partition is acknowledged. A failed effect holds the partition for good (the
        process is about to exit: docs/architecture.md, "Delivery guarantee")."""
        tp = (record.topic, record.partition)
        entry = _Entry(record, len(effects))
        self._waiting.setdefault(tp, deque()).append(entry)
        for future in effects:
            future.add_done_callback(functools.partial(self._done, tp, entry))
        if not effects:
            self._release(tp)

    def forget(self, keep: Iterable[TP]) -> None:
        """Drop what is waiting for partitions no longer assigned (their next owner
        decides those inputs again; acknowledging them here would commit nothing)."""
        kept = set(keep)
        for tp in [tp for tp in self._waiting if tp not in kept]:
            del self._waiting[tp]

    def _done(self, tp: TP, entry: _Entry, future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            entry.failed = True
            return
        entry.remaining -= 1
        if entry.remaining == 0:
            self._release(tp)

    def _release(self, tp: TP) -> None:
        entries = self._waiting.get(tp)
        while entries and entries[0].remaining == 0 and not entries[0].failed:
            self._ack(entries.popleft().record)
