"""Read a whole topic from the beginning up to its end offsets at the time of the call."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from pipai.kafka_config import consumer_config
from pipai.settings import Settings


def read_topic(settings: Settings, topic: str, batch: int = 5000) -> Iterator[Any]:
    """Every message of `topic` up to the high watermarks seen at start, per partition order."""
    consumer = Consumer(consumer_config(settings, None))
    try:
        meta = consumer.list_topics(topic, timeout=30)
        ends: dict[int, int] = {}
        assignment = []
        for partition in meta.topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
            if high > low:
                ends[partition] = high
                assignment.append(TopicPartition(topic, partition, low))
        consumer.assign(assignment)
        remaining = set(ends)
        while remaining:
            messages = consumer.consume(num_messages=batch, timeout=1.0)
            for msg in messages:
                partition, offset = msg.partition(), msg.offset()
                if msg.error() or partition not in remaining or offset is None:
                    continue
                yield msg
                if offset + 1 >= ends[partition]:
                    remaining.discard(partition)
            if not messages:  # a partition may end in control records that are never delivered
                for tp in consumer.position([TopicPartition(topic, p) for p in remaining]):
                    if tp.offset >= ends[tp.partition]:
                        remaining.discard(tp.partition)
    finally:
        consumer.close()
