"""The topics the chaos checker reads, tailed incrementally and decoded.

`events`, `commands`, `reports` and `decisions` are read from their low watermarks;
each `refresh` reads on up to the high watermarks of that moment. Undecodable inputs
are kept (type "") because they too must be decided (as poison).
"""

from __future__ import annotations

from confluent_kafka import KafkaException, Message

from cli.chaos.invariants import InputMessage, LogContents
from jobs import messages
from jobs.messages import InputDecided, is_event
from pipai.kafka.clients import new_consumer
from pipai.kafka.codec import PoisonMessage, message_codec
from pipai.kafka.reader import Partition, ReadToEnd, topic_partitions
from pipai.settings import Settings
from pipai.topics import Topics


class LogView:
    def __init__(self, settings: Settings) -> None:
        topics = Topics.for_prefix(settings.topic_prefix)
        self.events_topic = topics.events
        self.input_topics = (topics.commands, topics.reports)
        self.decisions_topic = topics.decisions
        self.settings = settings
        self.codec = message_codec(settings, messages, publish=False)
        self.consumer = new_consumer(settings, log_level=0)  # quiet in outages
        self.positions: dict[Partition, int] = {}
        self.contents = LogContents(decisions_topic_exists=False)

    def close(self) -> None:
        self.consumer.close()

    def refresh(self, timeout_s: float = 30.0) -> LogContents:
        """Read every partition on to its high watermark as of now. A client that cannot
        reach the broker is replaced once: after a broker restart a long-lived consumer
        was seen failing every metadata request for minutes while fresh clients connected
        (the positions read so far are ours, so nothing is read twice)."""
        try:
            return self._read_on(timeout_s)
        except KafkaException:
            self.consumer.close()
            self.consumer = new_consumer(self.settings, log_level=0)
            return self._read_on(timeout_s)

    def _read_on(self, timeout_s: float) -> LogContents:
        parts = topic_partitions(self.consumer, (self.events_topic, *self.input_topics,
                                                 self.decisions_topic), timeout_s)
        self.contents.decisions_topic_exists = any(t == self.decisions_topic for t, _ in parts)
        reader = ReadToEnd(self.consumer, {part: self.positions.get(part, 0) for part in parts},
                           timeout_s)
        for msg in reader:
            self._add(msg)
            # kept per record, so a read cut short by an outage resumes after it
            part = (str(msg.topic()), int(msg.partition() or 0))
            self.positions[part] = int(msg.offset() or 0) + 1
        self.positions.update(reader.positions)
        return self.contents

    def _add(self, msg: Message) -> None:
        topic = str(msg.topic())
        try:
            message = self.codec.decode_message(msg)
        except PoisonMessage:
            message = None
        if topic == self.events_topic:
            if is_event(message):
                self.contents.events.append(message)
        elif topic == self.decisions_topic:
            if isinstance(message, InputDecided):
                self.contents.decisions.append(message)
        else:
            self.contents.inputs.append(InputMessage(
                topic, int(msg.partition() or 0), int(msg.offset() or 0),
                "" if message is None else type(message).__name__,
                str(getattr(message, "job_id", ""))))
