"""The orchestrator's appends through librdkafka (confluent-kafka), not faust's producer.

faust's aiokafka producer is pure Python: per record, a FutureMessage, a buffer
hop, the accumulator and a debug-logging send path, which took about a third of
the orchestrator's time (docs/performance.md, "Orchestrator"). librdkafka batches
and sends from its own threads; a `produce` call is a few microseconds.

- `send` queues one record and hands back an asyncio future of its `Ack`. One
  thread serves librdkafka's delivery reports and wakes the event loop once per
  poll round (not once per record), where the futures are resolved in order.
- Nothing here waits: an input is acknowledged to faust (so committed) only
  once every record it produced is acknowledged by the broker
  (`orchestrator.input_acks`), so faust's commit needs no flush of this producer:
  the guarantee of docs/architecture.md, "Delivery guarantee", unchanged.
- The table's changelog goes out through the same producer
  (`faust_runtime.SinkChangelogTable`).
- The producer is idempotent with `acks=all` (`pipai.kafka.clients`), and uses
  the same murmur2 partitioner as faust, so a job's records land in its
  partition of every topic.

Not used under `exactly_once`: there faust's transactional producer must write
the effects inside its transactions (`orchestrator.app`).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from orchestrator.ports import Ack, Out
from pipai.kafka.clients import new_producer
from pipai.log import get_logger
from pipai.settings import Settings

log = get_logger("orchestrator")
Delivered = Callable[[Any, int, int], None]  # (error or None, partition, offset)
POLL_S = 0.05  # the delivery thread's wait; it returns at once when a report arrives
FULL_QUEUE_BACKOFF_S = 0.002  # librdkafka's queue is full: let it drain


@dataclass(frozen=True, slots=True)
class Appended:
    """Where the broker put a record (the `Ack` of `orchestrator.ports`)."""

    partition: int
    offset: int


class EffectNotOnLog(Exception):
    """The broker refused a record (or it timed out in librdkafka's queue)."""


class KafkaLog:
    """`orchestrator.ports.Log` over one confluent-kafka producer."""

    def __init__(self, settings: Settings, topics: dict[Out, str], **extra: Any) -> None:
        self._topics = topics
        self._producer = new_producer(settings, **extra)
        # (callback, error, partition, offset), appended by the delivery thread
        self._delivered: deque[tuple[Delivered, Any, int, int]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve_reports, name="kafka-log",
                                        daemon=True)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is None:
            self._loop = loop
            self._thread.start()

    async def send(self, out: Out, key: bytes, value: bytes,
                   partition: int | None = None) -> asyncio.Future[Ack]:
        loop = asyncio.get_running_loop()
        self.start(loop)
        future: asyncio.Future[Ack] = loop.create_future()
        while True:
            try:
                self.produce(self._topics[out], key, value, partition,
                             lambda err, p, o: _settle(future, err, p, o))
                return future
            except BufferError:  # backpressure: the local queue is full
                await asyncio.sleep(FULL_QUEUE_BACKOFF_S)

    def produce(self, topic: str, key: bytes | None, value: bytes | None,
                partition: int | None, done: Delivered) -> None:
        """Queue one record; `done(error, partition, offset)` is called on the event loop
        once the broker answered. Raises BufferError when librdkafka's queue is full."""
        if self._loop is None:
            self.start(asyncio.get_running_loop())
        delivered = self._delivered

        def on_delivery(err: Any, msg: Any) -> None:  # on the delivery thread
            delivered.append((done, err, msg.partition(), msg.offset()))

        if partition is None:
            self._producer.produce(topic, value, key, on_delivery=on_delivery)
        else:
            self._producer.produce(topic, value, key, partition, on_delivery=on_delivery)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._producer.flush(10.0)

    def _serve_reports(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(POLL_S)
            if self._delivered and self._loop is not None:
                try:
                    self._loop.call_soon_threadsafe(self._resolve)
                except RuntimeError:  # the loop closed: the process is stopping
                    return

    def _resolve(self) -> None:
        """Hand every delivery report received to its callback (on the event loop)."""
        delivered = self._delivered
        while delivered:
            done, err, partition, offset = delivered.popleft()
            done(err, partition, offset)


def _settle(future: asyncio.Future[Ack], err: Any, partition: int, offset: int) -> None:
    if future.done():
        return
    if err is not None:
        future.set_exception(EffectNotOnLog(_describe(err)))
    else:
        future.set_result(Appended(partition, offset))


def _describe(err: Any) -> str:
    if isinstance(err, KafkaError):
        return f"{err.name()}: {err.str()}"
    if isinstance(err, KafkaException):
        return str(err)
    return repr(err)
