"""Write-behind of job states, so that the table never runs ahead of the log.

faust puts a table write into the local RocksDB at once (and RocksDB's WAL keeps
it through a SIGKILL), while the events and work items the same input produced
wait in the producer's buffer until the broker acknowledges them. A state stored
before its effects are on the log is a lie after a crash: the input, whose
offset was never committed, is processed again, finds its effect in the table
and decides nothing, so an accepted job is lost or a run never starts
(docs/architecture.md, "The table never runs ahead of the log").

So a decided state waits here, where later decisions of the same job see it,
until every effect of its input is acknowledged; only then is it stored. A crash
in between leaves the table behind the log, which the reconciliation before a
partition's first input repairs. An effect that fails to reach the log is fatal:
the process must die before it commits the input's offset.

No Kafka and no faust here: effects are asyncio futures that resolve to an
object with `.offset`, and storing is a callback.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

S = TypeVar("S")


@dataclass
class _Version(Generic[S]):
    state: S
    token: Any  # handed back to `store` (the orchestrator passes the input record)
    partition: int
    remaining: int
    number: int  # unique, orders heap entries of equal offsets
    stored: bool = False


class PendingStates(Generic[S]):
    """Decided states whose effects are not all acknowledged yet, newest per job."""

    def __init__(self, store: Callable[[str, S, Any], None],
                 on_failure: Callable[[BaseException], None]) -> None:
        self._store = store
        self._on_failure = on_failure
        self._versions: dict[str, deque[_Version[S]]] = {}
        # per partition: (acked event offset, version) of versions maybe not stored yet;
        # stored ones are popped lazily, so `floor` stays O(log n) under a burst
        self._acked: dict[int, list[tuple[int, int, _Version[S]]]] = {}
        self._numbers = itertools.count()

    def __len__(self) -> int:
        return len(self._versions)

    def get(self, job_id: str) -> S | None:
        """The newest decided state of the job, if one is still waiting to be stored."""
        versions = self._versions.get(job_id)
        return versions[-1].state if versions else None

    def add(self, job_id: str, state: S, token: Any, partition: int,
            events: list[asyncio.Future[Any]], others: list[asyncio.Future[Any]]) -> None:
        """`state` is stored once every future in `events` and `others` has succeeded."""
        version = _Version(state, token, partition, len(events) + len(others),
                           next(self._numbers))
        self._versions.setdefault(job_id, deque()).append(version)
        for future in events:
            future.add_done_callback(self._callback(job_id, version, True))
        for future in others:
            future.add_done_callback(self._callback(job_id, version, False))
        if version.remaining == 0:
            self._drain(job_id)

    def watch(self, future: asyncio.Future[Any]) -> None:
        """An effect that carries no state (e.g. a decision record) but must not fail."""
        future.add_done_callback(self._check)

    def floor(self, partition: int) -> int | None:
        """The lowest acknowledged event offset of `partition` whose state is not stored.

        The events watermark must not pass it: the reconciliation after a crash
        starts there, and must fold that event into the table. Unacknowledged
        events need no bound: they will land above every acknowledged one.
        """
        heap = self._acked.get(partition)
        while heap and heap[0][2].stored:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def _check(self, future: asyncio.Future[Any]) -> bool:
        if future.cancelled():
            self._on_failure(asyncio.CancelledError("an effect's send was cancelled"))
            return False
        exc = future.exception()
        if exc is not None:
            self._on_failure(exc)
            return False
        return True

    def _callback(self, job_id: str, version: _Version[S],
                  is_event: bool) -> Callable[[asyncio.Future[Any]], None]:
        return lambda future: self._done(job_id, version, future, is_event)

    def _done(self, job_id: str, version: _Version[S], future: asyncio.Future[Any],
              is_event: bool) -> None:
        if not self._check(future):
            return  # the state stays unstored: the log does not have its effects
        if is_event:
            entry = (int(future.result().offset), version.number, version)
            heapq.heappush(self._acked.setdefault(version.partition, []), entry)
        version.remaining -= 1
        self._drain(job_id)

    def _drain(self, job_id: str) -> None:
        """Store the newest state whose effects, and all earlier ones', are acknowledged."""
        versions = self._versions.get(job_id)
        newest: _Version[S] | None = None
        while versions and versions[0].remaining == 0:
            newest = versions.popleft()
            newest.stored = True  # superseded by a newer state, or stored just below
        if newest is not None:
            self._store(job_id, newest.state, newest.token)
        if versions is not None and not versions:
            del self._versions[job_id]
