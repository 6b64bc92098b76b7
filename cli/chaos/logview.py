"""The topics the chaos checker reads, tailed incrementally and decoded.

`events`, `commands`, `reports` and `decisions` are read from their low watermarks;
each `refresh` reads on up to the high watermarks of that moment. Undecodable inputs
are kept (type "") because they too must be decided (as poison).
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer, TopicPartition

from cli.chaos.invariants import InputMessage, LogContents
from jobs.messages import from_record, is_event
from pipai.kafka_config import consumer_config
from pipai.schema_log import kafka_codec
from pipai.settings import Settings
from pipai.topics import Topics
from schemas.codec import DecodeError


class LogView:
    def __init__(self, settings: Settings) -> None:
        topics = Topics.for_prefix(settings.topic_prefix)
        self.events_topic = topics.events
        self.input_topics = (topics.commands, topics.reports)
        self.decisions_topic = topics.decisions
        self.codec = kafka_codec(settings, publish=False)
        self.consumer = Consumer(consumer_config(settings, None, log_level=0))  # quiet in outages
        self.positions: dict[tuple[str, int], int] = {}
        self.contents = LogContents(decisions_topic_exists=False)

    def close(self) -> None:
        self.consumer.close()

    def _ends(self, timeout_s: float) -> dict[tuple[str, int], tuple[int, int]]:
        meta = self.consumer.list_topics(timeout=timeout_s)
        self.contents.decisions_topic_exists = self.decisions_topic in meta.topics
        ends = {}
        for topic in (self.events_topic, *self.input_topics, self.decisions_topic):
            if topic not in meta.topics:
                continue
            for partition in meta.topics[topic].partitions:
                low, high = self.consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=timeout_s)
                ends[(topic, partition)] = (low, high)
        return ends

    def refresh(self, timeout_s: float = 30.0) -> LogContents:
        """Read every partition on to its high watermark as of now."""
        ends = self._ends(timeout_s)
        todo = {}
        for tp, (low, high) in ends.items():
            start = max(self.positions.get(tp, low), low)
            self.positions.setdefault(tp, start)
            if high > start:
                todo[tp] = high
        if not todo:
            return self.contents
        self.consumer.assign([TopicPartition(t, p, max(self.positions[(t, p)], ends[(t, p)][0]))
                              for t, p in todo])
        while todo:
            batch = self.consumer.consume(num_messages=5000, timeout=0.5)
            for msg in batch:
                offset = msg.offset()
                if msg.error() or offset is None:
                    continue
                tp = (str(msg.topic()), int(msg.partition() or 0))
                if tp not in todo or offset < self.positions[tp]:
                    continue
                self._add(tp[0], tp[1], offset, msg.value())
                self.positions[tp] = offset + 1
                if self.positions[tp] >= todo[tp]:
                    del todo[tp]
            if not batch and todo:  # a partition may end in control records never delivered
                for position in self.consumer.position([TopicPartition(t, p) for t, p in todo]):
                    key = (position.topic, position.partition)
                    if position.offset >= todo[key]:
                        self.positions[key] = position.offset
                        del todo[key]
        self.consumer.unassign()
        return self.contents

    def _decode(self, value: bytes | None) -> tuple[str, dict[str, Any]] | None:
        try:
            return self.codec.decode(value)
        except DecodeError:
            return None

    def _add(self, topic: str, partition: int, offset: int, value: bytes | None) -> None:
        decoded = self._decode(value)
        if topic == self.events_topic:
            if decoded is not None:
                try:
                    message = from_record(*decoded)
                except (TypeError, KeyError):
                    return
                if is_event(message):
                    self.contents.events.append(message)
        elif topic == self.decisions_topic:
            if decoded is not None and decoded[0] == "InputDecided":
                self.contents.decisions.append(from_record(*decoded))
        else:
            name, record = decoded if decoded is not None else ("", {})
            self.contents.inputs.append(InputMessage(topic, partition, offset, name,
                                                     str(record.get("job_id", ""))))
