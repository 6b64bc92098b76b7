"""Reading partitions up to their end, the one way every process does it.

`ReadToEnd` captures each partition's end offset (high watermark) when it is made
and yields the messages from the given start offsets up to, never past, those
ends: records appended meanwhile wait for the next read. A partition can end in
transaction markers, which are never delivered, so a partition also counts as
read once the consumer's position has passed its end. Used whole (`read_topic`,
`read_partition`) or incrementally over a long-lived consumer (the chaos
checker's log view keeps `positions` between reads).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from confluent_kafka import OFFSET_END, Consumer, Message, TopicPartition

from pipai.kafka.clients import new_consumer
from pipai.settings import Settings

Partition = tuple[str, int]  # (topic, partition number)
BATCH = 5000
# consume() waits its whole timeout unless the batch fills: short waits keep a small
# read fast, and a large one is not slowed (full batches come back at once).
WAIT_S = 0.05


def topic_partitions(consumer: Consumer, topics: Iterable[str],
                     timeout_s: float = 30.0) -> list[Partition]:
    """Every partition of those of `topics` that exist."""
    meta = consumer.list_topics(timeout=timeout_s)
    return [(topic, partition) for topic in topics if topic in meta.topics
            for partition in meta.topics[topic].partitions]


def watermarks(consumer: Consumer, partitions: Iterable[Partition],
               timeout_s: float = 30.0) -> dict[Partition, tuple[int, int]]:
    """(low, high) watermark of each partition: its first offset and its end offset."""
    out = {}
    for topic, partition in partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                   timeout=timeout_s)
        out[(topic, partition)] = (low, high)
    return out


def assign_at_end(consumer: Consumer, topic: str, timeout_s: float = 30.0) -> None:
    """Follow every partition of `topic` from now on (what is already there is skipped)."""
    consumer.assign([TopicPartition(t, p, OFFSET_END)
                     for t, p in topic_partitions(consumer, [topic], timeout_s)])


class ReadToEnd:
    """The messages of some partitions from their start offsets to the ends of now."""

    def __init__(self, consumer: Consumer, starts: Mapping[Partition, int],
                 timeout_s: float = 30.0) -> None:
        self.consumer = consumer
        self.ends: dict[Partition, int] = {}
        # next offset to read of each partition; its end once it is read
        self.positions: dict[Partition, int] = {}
        for part, (low, high) in watermarks(consumer, starts, timeout_s).items():
            self.ends[part] = high
            self.positions[part] = max(starts[part], low)

    def __iter__(self) -> Iterator[Message]:
        todo = {part for part, end in self.ends.items() if self.positions[part] < end}
        if not todo:
            return
        self.consumer.assign([TopicPartition(t, p, self.positions[(t, p)]) for t, p in todo])
        try:
            while todo:
                for msg in self.consumer.consume(num_messages=BATCH, timeout=WAIT_S):
                    if self._take(msg, todo):
                        yield msg
                self._past_markers(todo)
        finally:
            self.consumer.unassign()

    def _take(self, msg: Message, todo: set[Partition]) -> bool:
        """Whether `msg` is one to yield; moves its partition's position."""
        offset = msg.offset()
        part = (str(msg.topic()), int(msg.partition() or 0))
        if msg.error() or offset is None or part not in todo or offset < self.positions[part]:
            return False
        if offset >= self.ends[part]:  # appended after the ends were captured
            self._done(part, todo)
            return False
        self.positions[part] = offset + 1
        if offset + 1 >= self.ends[part]:
            self._done(part, todo)
        return True

    def _past_markers(self, todo: set[Partition]) -> None:
        if not todo:
            return
        for tp in self.consumer.position([TopicPartition(t, p) for t, p in todo]):
            part = (tp.topic, tp.partition)
            if tp.offset >= self.ends[part]:
                self._done(part, todo)

    def _done(self, part: Partition, todo: set[Partition]) -> None:
        self.positions[part] = self.ends[part]
        todo.discard(part)


def read_topic(settings: Settings, topic: str) -> Iterator[Message]:
    """Every message of `topic` up to its end offsets at the call, in partition order."""
    consumer = new_consumer(settings)
    try:
        starts = {part: 0 for part in topic_partitions(consumer, [topic])}
        yield from ReadToEnd(consumer, starts)
    finally:
        consumer.close()


def read_partition(settings: Settings, topic: str, partition: int,
                   start: int) -> tuple[list[tuple[int, bytes]], int]:
    """(offset, value) of every message of one partition from `start` to its end offset
    at the call (tombstones left out), and that end offset."""
    consumer = new_consumer(settings)
    try:
        reader = ReadToEnd(consumer, {(topic, partition): start})
        records = [(int(msg.offset() or 0), value) for msg in reader
                   if (value := msg.value()) is not None]  # yielded messages have offsets
        return records, reader.ends[(topic, partition)]
    finally:
        consumer.close()


def committed_positions(settings: Settings, group: str,
                        tps: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """Where the group resumes each input partition: its committed offset, or the low
    watermark when none is committed (the orchestrator reads from the earliest)."""
    consumer = new_consumer(settings, group)
    try:
        out: dict[tuple[str, int], int] = {}
        committed = consumer.committed([TopicPartition(t, p) for t, p in tps], timeout=30)
        for tp in committed:
            offset = tp.offset
            if offset < 0:
                offset = consumer.get_watermark_offsets(
                    TopicPartition(tp.topic, tp.partition), timeout=30)[0]
            out[(tp.topic, tp.partition)] = offset
        return out
    finally:
        consumer.close()
