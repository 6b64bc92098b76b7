"""Work-item offsets, committed in order once everything each item produced is acknowledged.

The engine worker produces a job's reports and result asynchronously and goes on to the
next work item without waiting for the broker. Each item taken from `work` gets a
`Ticket`; every message produced on its behalf is counted on it and counted off by its
delivery report. An item is *complete* once the worker has closed its ticket (nothing more
will be produced for it) and every delivery report came back without an error. Offsets
are committed per partition in the order the items were taken, up to the first item that
is not complete: an item is never committed before everything it produced is on the log,
nor past an earlier item that is not (docs/architecture.md, "Engine workers").

A delivery that failed, or an item still unacknowledged after `ack_timeout_s`, makes
`check()` raise: the worker stops without committing it, and the item is delivered again
to the partition's next owner.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError

Partition = tuple[str, int]
ACK_TIMEOUT_S = 30.0


class NotAcknowledged(RuntimeError):
    """What a work item produced is not on the log: the item must not be committed."""


@dataclass
class Ticket:
    partition: Partition
    offset: int
    waiting: int = 0
    closed_at: float | None = None
    error: str | None = None

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    @property
    def complete(self) -> bool:
        return self.closed and self.waiting == 0 and self.error is None


@dataclass
class OrderedCommits:
    """`commit(partition, next_offset)` is called for each partition's completed prefix."""

    commit: Callable[[Partition, int], None]
    ack_timeout_s: float = ACK_TIMEOUT_S
    clock: Callable[[], float] = time.monotonic
    _queues: dict[Partition, deque[Ticket]] = field(default_factory=dict)

    def open(self, topic: str, partition: int, offset: int) -> Ticket:
        ticket = Ticket((topic, partition), offset)
        self._queues.setdefault(ticket.partition, deque()).append(ticket)
        return ticket

    def expect(self, ticket: Ticket) -> Callable[[KafkaError | None, Any], None]:
        """Count one more message of `ticket`; the returned callback is its delivery report."""
        ticket.waiting += 1

        def delivered(error: KafkaError | None, _msg: Any) -> None:
            ticket.waiting -= 1
            if error is not None and ticket.error is None:
                ticket.error = str(error)
            self._advance(ticket.partition)

        return delivered

    def close(self, ticket: Ticket) -> None:
        """Nothing more is produced for `ticket`: committed once acknowledged."""
        ticket.closed_at = self.clock()
        self._advance(ticket.partition)

    def failed(self, ticket: Ticket, reason: str) -> None:
        """Something of `ticket` could not even be queued for the broker."""
        if ticket.error is None:
            ticket.error = reason

    def forget(self, partitions: Iterable[Partition]) -> None:
        """Revoked partitions: their next owner commits (or redoes) what is left."""
        for partition in partitions:
            self._queues.pop(partition, None)

    @property
    def pending(self) -> bool:
        """Some closed ticket still waits for its delivery reports."""
        return any(t.closed for queue in self._queues.values() for t in queue)

    def check(self) -> None:
        """Raise NotAcknowledged if an item's production failed or takes too long."""
        now = self.clock()
        for queue in self._queues.values():
            for ticket in queue:
                if ticket.error is not None:
                    raise NotAcknowledged(f"work item {ticket.partition}@{ticket.offset}: "
                                          f"{ticket.error}; not committing")
                if ticket.closed_at is not None and now - ticket.closed_at > self.ack_timeout_s:
                    raise NotAcknowledged(f"work item {ticket.partition}@{ticket.offset}: "
                                          f"{ticket.waiting} messages not acknowledged in "
                                          f"{self.ack_timeout_s:.0f} s; not committing")

    def _advance(self, partition: Partition) -> None:
        queue = self._queues.get(partition)
        last = None
        while queue and queue[0].complete:
            last = queue.popleft()
        if last is not None:
            self.commit(partition, last.offset + 1)
