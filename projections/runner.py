"""Keeps a JobsView replica up to date from `events` and `results` (a thread).

Group-less: each API instance assigns every partition itself, from the offsets
stored in its own view, so every instance has a full replica. Listeners (the
API's read-your-writes waiters and SSE streams) are told of each applied batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from orchestrator.decider import JobState
from orchestrator.messages import BacktestResult, Event, from_record, is_event
from pipai.kafka_config import consumer_config
from pipai.log import get_logger
from pipai.schema_log import kafka_codec
from pipai.settings import Settings
from pipai.topics import Topics
from projections.jobs_view import JobsView
from schemas.codec import DecodeError

log = get_logger("projections")
Listener = Callable[[list[Event], list[JobState]], None]


class ProjectionRunner:
    def __init__(self, settings: Settings, view: JobsView) -> None:
        self.settings = settings
        self.view = view
        self.topics = Topics.for_prefix(settings.topic_prefix)
        self.codec = kafka_codec(settings)  # the API writes commands with it too
        self.listeners: list[Listener] = []
        self.poison = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="projection", daemon=True)
        self.consumer = Consumer(consumer_config(settings, None))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def wait_ready(self, timeout_s: float) -> bool:
        return self._ready.wait(timeout_s)

    def _assign(self) -> None:
        assignment = []
        for topic in (self.topics.events, self.topics.results):
            meta = self.consumer.list_topics(topic, timeout=30)
            stored = self.view.offsets(topic)
            for partition in meta.topics[topic].partitions:
                offset = stored.get(partition, OFFSET_BEGINNING)
                assignment.append(TopicPartition(topic, partition, offset))
        self.consumer.assign(assignment)

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
            messages = self.consumer.consume(num_messages=1000, timeout=0.1)
            if messages:
                self._apply(messages)

    def _apply(self, messages: list[Any]) -> None:
        events: list[Event] = []
        results: list[tuple[str, int, bytes]] = []
        offsets: dict[tuple[str, int], int] = {}
        for msg in messages:
            if msg.error():
                continue
            offsets[(msg.topic(), msg.partition())] = msg.offset() + 1
            try:
                name, record = self.codec.decode(msg.value())
                message = from_record(name, record)
            except (DecodeError, TypeError, KeyError) as exc:
                self.poison += 1
                log.warning("poison_message_skipped", topic=msg.topic(), offset=msg.offset(),
                            error=str(exc), poison_total=self.poison)
                continue
            if is_event(message):
                events.append(message)
            elif isinstance(message, BacktestResult):
                results.append((message.job_id, message.attempt, message.document_json.encode()))
        changed = self.view.apply(events, results, offsets)
        for listener in list(self.listeners):
            try:
                listener(events, changed)
            except Exception:
                log.exception("projection_listener_failed")
