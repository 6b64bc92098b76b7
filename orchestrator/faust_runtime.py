"""faust behind the orchestrator's ports, and the two patches our guarantees need.

Each class implements one Protocol of `orchestrator.ports` over faust (the table,
the producer, the consumer) or over the blocking confluent-kafka reads of
`orchestrator.reconcile`. The patches change faust's behaviour process-wide:
no gap acknowledgement on our input topics (docs/architecture.md, "Gapless
input") and an idempotent producer ("An idempotent producer"). The job table is a
faust table whose changelog goes out through librdkafka (`SinkChangelogTable`,
"One producer, librdkafka").
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable
from typing import Any, Protocol

import faust
from faust.streams import _current_event
from faust.transport.consumer import Consumer as FaustConsumer
from faust.transport.drivers.aiokafka import Producer as FaustProducer
from faust.types import TP as FaustTP

from orchestrator.ports import TP, Ack, InputRecord, Out
from pipai.log import get_logger

log = get_logger("orchestrator")


def no_gaps_acked_for(input_topics: set[str]) -> None:
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


def idempotent_producer() -> None:
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


def quiet_client_logs() -> None:
    """aiokafka and faust log every send at DEBUG through stdlib logging; building those
    records cost 8 % of the orchestrator's time although nothing printed them."""
    for name in ("aiokafka", "faust", "mode"):
        logging.getLogger(name).setLevel(logging.WARNING)


class FaustJobTable:
    """The faust table of job states (bytes keys and values: stored raw)."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._table.get(key)
        return value

    def set(self, key: bytes, value: bytes, within: InputRecord | None = None) -> None:
        if within is None:  # inside the agent: faust knows the current input
            self._table[key] = value
            return
        token = _current_event.set(weakref.ref(within.context))  # faust writes in its context
        try:
            self._table[key] = value
        finally:
            _current_event.reset(token)

    def items(self) -> list[tuple[bytes, bytes]]:
        return list(self._table.items())


class ChangelogSink(Protocol):
    def produce(self, topic: str, key: bytes | None, value: bytes | None,
                partition: int | None, done: Callable[[Any, int, int], None]) -> None: ...


class SinkChangelogTable(faust.Table):  # type: ignore[misc]
    """A faust table whose changelog records go out through librdkafka
    (`orchestrator.kafka_log`) instead of faust's buffered aiokafka producer, whose
    one-at-a-time sends held the stream back once 100 were queued ("producer buffer
    full"; docs/performance.md). Same bytes, same partition, and the stored changelog
    offset is kept as faust keeps it, so recovery is unchanged. A changelog record is
    not awaited before the input's commit: a table behind the log is what reconciliation
    repairs (docs/architecture.md, "Nothing written twice")."""

    sink: ChangelogSink | None = None
    on_failure: Callable[[BaseException], None] = staticmethod(lambda exc: None)

    def on_key_set(self, key: Any, value: Any) -> None:
        self._to_changelog(key, value, self.value_serializer)

    def on_key_del(self, key: Any) -> None:
        self._to_changelog(key, None, "raw")

    def _to_changelog(self, key: Any, value: Any, value_serializer: Any) -> None:
        if self.sink is None:
            raise RuntimeError("SinkChangelogTable used before its sink was set")
        topic = self.changelog_topic
        partition = self.partition_for_key(key)  # the current input's partition
        key_bytes, _ = topic.prepare_key(key, self.key_serializer)
        value_bytes = None
        if value is not None:
            value_bytes, _ = topic.prepare_value(value, value_serializer)
        name = topic.get_topic_name()
        while True:
            try:
                self.sink.produce(name, key_bytes, value_bytes, partition,
                                  lambda err, p, o: self._changelog_sent(name, err, p, o))
                return
            except BufferError:  # librdkafka's queue is full: a short synchronous drain
                time.sleep(0.002)

    def _changelog_sent(self, topic: str, err: Any, partition: int, offset: int) -> None:
        if err is not None:
            self.on_failure(RuntimeError(f"changelog record not on the log: {err}"))
            return
        self.data.set_persisted_offset(FaustTP(topic, partition), offset)


class FaustLog:
    """The app's producer, one faust topic per output."""

    def __init__(self, topics: dict[Out, faust.types.TopicT]) -> None:
        self._topics = topics

    async def send(self, out: Out, key: bytes, value: bytes,
                   partition: int | None = None) -> asyncio.Future[Ack]:
        # faust's FutureMessage: an asyncio future of the record's metadata
        sent: Any = await self._topics[out].send(key=key, value=value, partition=partition)
        return sent  # type: ignore[no-any-return]


class FaustInputConsumer:
    """The app's consumer (created by faust when the worker starts, so looked up late)."""

    def __init__(self, app: faust.App) -> None:
        self._app = app

    def assigned(self) -> set[TP]:
        return {(tp.topic, tp.partition) for tp in self._app.consumer.assignment()}

    def owns(self, tp: TP) -> bool:
        return FaustTP(*tp) in self._app.consumer.assignment()

    def skip(self, record: InputRecord) -> None:
        message = record.context.message
        message.acked = True  # faust never acknowledges it, so never commits past it
        consumer: Any = self._app.consumer
        consumer._unacked_messages.discard(message)

    def ack(self, record: InputRecord) -> None:
        record.context.ack()  # the agent's stream is `noack()`: we say when

    async def seek(self, tp: TP, offset: int) -> None:
        await self._app.consumer.seek_wait({FaustTP(*tp): offset})

    async def position(self, tp: TP) -> int | None:
        consumer: Any = self._app.consumer
        position: int | None = await consumer._thread.position(FaustTP(*tp))
        return position
