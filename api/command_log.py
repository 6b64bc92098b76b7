"""Puts one command on the `commands` topic and says whether it is there.

The API may answer 503 ("nothing was accepted") only when a command is known
*not* to be on the log, so every produce ends in one of three outcomes:

- ON_LOG: the broker acknowledged it (acks=all).
- NOT_ON_LOG: it never left this process: produce() refused it, or it was
  still in librdkafka's queue when we purged the queue. The producer runs with
  `retries=0` (so without idempotence): a message is transmitted at most once
  and never put back in the queue after a transmission, so a message purged
  from the queue (`_PURGE_QUEUE`) was never sent.
- MAYBE: it was transmitted but not acknowledged (timed out in flight, the
  connection dropped, any broker error): the broker may have written it.

The queue is purged after `queue_patience_s` and `message.timeout.ms` is
longer than that, so a message still undelivered then is either purged (never
sent) or in flight (its report comes within the message timeout; librdkafka
sets a ProduceRequest's timeout to its oldest message's). A purge empties the
producer's whole queue; a command it took before its own patience ran out is
queued again, so no request is answered 503 on a neighbour's timing. docs/api.md.
"""

from __future__ import annotations

import asyncio
import enum
import threading
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from pipai.kafka.clients import new_producer
from pipai.log import get_logger
from pipai.settings import Settings

log = get_logger("api.command_log")


class Delivery(enum.Enum):
    ON_LOG = "on_log"
    NOT_ON_LOG = "not_on_log"
    MAYBE = "maybe"


def delivery_of(error: KafkaError | None) -> Delivery:
    """What a delivery report says about persistence (the producer has retries=0)."""
    if error is None:
        return Delivery.ON_LOG
    if error.code() == KafkaError._PURGE_QUEUE:
        return Delivery.NOT_ON_LOG
    return Delivery.MAYBE


def delivery_timeout_s(command_timeout_s: float) -> float:
    """The producer's message timeout: well inside the HTTP deadline, so the delivery
    report always comes before the API must answer."""
    return max(1.0, min(5.0, command_timeout_s / 3))


class CommandLog:
    def __init__(self, settings: Settings, topic: str) -> None:
        self.topic = topic
        self.message_timeout_s = delivery_timeout_s(settings.command_timeout_s)
        self.queue_patience_s = self.message_timeout_s * 0.6
        self.producer = new_producer(settings, **{
            "enable.idempotence": False, "retries": 0, "linger.ms": 0,
            "message.timeout.ms": int(self.message_timeout_s * 1000)})
        try:  # connect and learn the partitions now, not in the first request's patience
            self.producer.list_topics(topic, timeout=self.message_timeout_s)
        except KafkaException as exc:
            log.warning("command_log_not_ready", error=str(exc))
        self.requeued = 0  # commands queued again after a neighbour's purge took them
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="command-log", daemon=True)
        self._poller.start()

    def close(self) -> None:
        self.producer.flush(self.message_timeout_s)
        self._stop.set()
        self._poller.join(timeout=5)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(0.1)  # serves the delivery reports

    def _purge_queued(self) -> None:
        # Every queued message of this producer, not only ours: none of them was sent.
        self.producer.purge(in_queue=True, in_flight=False, blocking=True)

    async def append(self, key: bytes, value: bytes) -> Delivery:
        """Where the command is once its own patience is spent, at the latest. The purge
        at a command's patience takes every queued command of the producer with it (one
        librdkafka queue); a neighbour purged before its own patience ran out was never
        sent, so it queues itself again: each answer depends on its own command alone."""
        loop = asyncio.get_running_loop()
        patience_ends = loop.time() + self.queue_patience_s
        while True:
            report: asyncio.Future[Delivery] = loop.create_future()

            def delivered(error: KafkaError | None, _msg: Any,
                          report: asyncio.Future[Delivery] = report) -> None:
                loop.call_soon_threadsafe(_settle, report, delivery_of(error))

            try:
                self.producer.produce(self.topic, key=key, value=value, on_delivery=delivered)
            except (KafkaException, BufferError) as exc:
                log.warning("command_not_queued", error=str(exc))
                return Delivery.NOT_ON_LOG
            done, _ = await asyncio.wait({report}, timeout=max(0.0, patience_ends - loop.time()))
            if not done:
                break  # our patience is spent: purge below
            if report.result() is Delivery.NOT_ON_LOG and loop.time() < patience_ends:
                self.requeued += 1
                log.info("command_requeued_after_neighbours_purge", requeued=self.requeued)
                continue
            return report.result()
        await loop.run_in_executor(None, self._purge_queued)
        try:
            # The report comes within the message timeout (its scanner runs each second).
            return await asyncio.wait_for(report, self.message_timeout_s + 2.0)
        except TimeoutError:
            return Delivery.MAYBE


def _settle(future: asyncio.Future[Delivery], outcome: Delivery) -> None:
    if not future.done():
        future.set_result(outcome)
