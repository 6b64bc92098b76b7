"""Keeps a JobsView replica up to date from `events` and `results` (a thread).

Group-less: each API instance assigns every partition itself, from the offsets
stored in its own view, so every instance has a full replica. Listeners (the
API's read-your-writes waiters and SSE streams) are told of each applied batch.

`caught_up` turns true once the view has folded `events` up to the end offsets
the topic had when the runner first reached the broker; until then the view may
be missing jobs (a fresh or rebuilt view starts empty), so the API answers
503 UNAVAILABLE instead of an empty listing or a 404 (docs/api.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Message, TopicPartition

from jobs import messages
from jobs.messages import Event
from pipai.kafka.clients import new_consumer
from pipai.kafka.codec import PoisonLog, PoisonMessage, message_codec
from pipai.kafka.reader import topic_partitions, watermarks
from pipai.log import get_logger
from pipai.settings import Settings
from pipai.topics import Topics
from projections.batch import ViewBatch
from projections.jobs_view import JobsView

log = get_logger("projections")
Listener = Callable[[list[Event], list[Any]], None]  # the events, the states they changed
BATCH = 1000  # messages applied in one RocksDB write, at most
# How long one wait for the log lasts when nothing comes (how soon `stop` is heard); a
# message that arrives ends the wait at once.
FOLLOW_WAIT_S = 0.1


def lagging(targets: dict[int, int], reached: dict[int, int]) -> dict[int, int]:
    """Partitions whose reached offset is below its target, with how far behind they are."""
    return {p: end - reached.get(p, 0) for p, end in targets.items() if reached.get(p, 0) < end}


class ProjectionRunner:
    def __init__(self, settings: Settings, view: JobsView) -> None:
        self.settings = settings
        self.view = view
        self.topics = Topics.for_prefix(settings.topic_prefix)
        self.codec = message_codec(settings, messages)  # the API writes commands with it too
        self.listeners: list[Listener] = []
        self.poison = PoisonLog(log)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._caught_up = threading.Event()
        # End offsets of `events` as of start, per partition; None until known.
        self._targets: dict[int, int] | None = None
        self._thread = threading.Thread(target=self._run, name="projection", daemon=True)
        self.consumer = new_consumer(settings)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def wait_ready(self, timeout_s: float) -> bool:
        return self._ready.wait(timeout_s)

    @property
    def caught_up(self) -> bool:
        return self._caught_up.is_set()

    def wait_caught_up(self, timeout_s: float) -> bool:
        return self._caught_up.wait(timeout_s)

    def _assign(self) -> None:
        partitions = topic_partitions(self.consumer, [self.topics.events, self.topics.results])
        stored = {topic: self.view.offsets(topic) for topic in {t for t, _ in partitions}}
        self.consumer.assign([TopicPartition(t, p, stored[t].get(p, OFFSET_BEGINNING))
                              for t, p in partitions])
        if self._targets is None:
            events = [tp for tp in partitions if tp[0] == self.topics.events]
            self._targets = {partition: high for (_, partition), (_, high)
                             in watermarks(self.consumer, events).items()}
        self._check_caught_up()

    def _check_caught_up(self) -> None:
        if self._caught_up.is_set() or self._targets is None:
            return
        topic = self.topics.events
        reached = dict(self.view.offsets(topic))
        # The consumer's position also moves past transaction markers, which no message
        # (hence no stored offset) ever stands for.
        for tp in self.consumer.position([TopicPartition(topic, p) for p in self._targets]):
            if tp.offset >= 0:
                reached[tp.partition] = max(reached.get(tp.partition, 0), tp.offset)
        if not lagging(self._targets, reached):
            self._caught_up.set()
            log.info("projection_caught_up", topic=topic, end_offsets=self._targets)

    def _run(self) -> None:
        # A failure (broker unreachable at start, a write that fails) must not leave the
        # API serving a view that silently stopped: back off, then resume from the
        # offsets stored with the view, so nothing is skipped or applied twice.
        while not self._stop.is_set():
            try:
                self._assign()
                self._ready.set()
                self._follow()
            except Exception:
                log.exception("projection_failed_retrying")
                self._stop.wait(1.0)
        self.consumer.close()

    def _follow(self) -> None:
        while not self._stop.is_set():
            consumed = self._next_batch()
            if consumed:
                self._apply(consumed)
            self._check_caught_up()

    def _next_batch(self) -> list[Message]:
        """What the log has next: waits (up to FOLLOW_WAIT_S) for the first message only,
        then takes what the client has already fetched behind it, without waiting. So an
        event is applied the moment it arrives, and a backlog still goes in batches.
        (`consume(n, timeout)` waits out its whole timeout unless n messages come: with
        0.1 s, every event waited 50 ms on average, and a client acting on what it just
        read, phase-locked to the loop, waited ~90 ms.)"""
        first = self.consumer.poll(FOLLOW_WAIT_S)
        if first is None:
            return []
        return [first, *self.consumer.consume(num_messages=BATCH - 1, timeout=0)]

    def _apply(self, consumed: list[Message]) -> None:
        batch = ViewBatch()
        for msg in consumed:
            if msg.error():
                continue
            try:
                batch.add(msg, self.codec)
            except PoisonMessage as poison:
                self.poison.skip(poison)
        changed = batch.write(self.view)
        for listener in list(self.listeners):
            try:
                listener(batch.events, changed)
            except Exception:
                log.exception("projection_listener_failed")
