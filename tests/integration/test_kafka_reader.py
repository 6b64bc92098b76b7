"""The read-to-end routine on the real broker: an empty partition, N records, records
appended after the start (not read), a partition ending in a transaction marker, and
an incremental read that goes on from the positions of the last."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaException, TopicPartition

from pipai.kafka.clients import new_consumer, new_producer
from pipai.kafka.reader import ReadToEnd, read_partition, read_topic, watermarks
from pipai.settings import Settings
from pipai.topics import ensure_topics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
PARTITIONS = 3


@pytest.fixture
def settings(kafka_bootstrap: str, topic_prefix: str) -> Settings:
    return Settings(bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix,
                    partitions=PARTITIONS)


@pytest.fixture
def topic(settings: Settings) -> str:
    name = ensure_topics(settings).events  # created, and its partitions have leaders
    consumer = new_consumer(settings)
    deadline = time.monotonic() + 30
    try:  # a new partition's leader may still refuse offset requests for a moment
        while True:
            try:
                watermarks(consumer, [(name, p) for p in range(PARTITIONS)], 5)
                return name
            except KafkaException:
                assert time.monotonic() < deadline, f"{name} answers no offset request"
                time.sleep(0.05)  # poll interval; the deadline bounds the wait
    finally:
        consumer.close()


def produce(settings: Settings, topic: str, partition: int, values: list[bytes],
            transactional: bool = False) -> None:
    extra = {"transactional.id": f"{topic}.tx"} if transactional else {}
    producer = new_producer(settings, **extra)
    if transactional:
        producer.init_transactions(30)
        producer.begin_transaction()
    for value in values:
        producer.produce(topic, value=value, partition=partition)
    if transactional:
        producer.commit_transaction(30)
    assert producer.flush(30) == 0


def wait_for_stable_end(settings: Settings, topic: str, partition: int, end: int) -> None:
    """The coordinator writes commit markers after commit_transaction returns: wait until
    the partition's last stable offset (a read_committed consumer's end) shows it."""
    consumer = new_consumer(settings)
    deadline = time.monotonic() + 30
    try:
        while consumer.get_watermark_offsets(TopicPartition(topic, partition), 10)[1] < end:
            assert time.monotonic() < deadline, "the commit marker was not written in 30 s"
            time.sleep(0.05)  # poll interval; the deadline bounds the wait
    finally:
        consumer.close()


def values(n: int, tag: str = "v") -> list[bytes]:
    return [f"{tag}{i}".encode() for i in range(n)]


def test_an_empty_partition_reads_nothing_and_ends_at_zero(settings: Settings,
                                                           topic: str) -> None:
    assert read_partition(settings, topic, 1, 0) == ([], 0)
    assert list(read_topic(settings, topic)) == []


def test_n_records_are_read_in_order_from_the_start_given(settings: Settings,
                                                          topic: str) -> None:
    produce(settings, topic, 0, values(25))
    records, end = read_partition(settings, topic, 0, 0)
    assert end == 25
    assert records == list(enumerate(values(25)))
    records, _ = read_partition(settings, topic, 0, 20)
    assert [offset for offset, _ in records] == [20, 21, 22, 23, 24]
    assert read_partition(settings, topic, 0, 25) == ([], 25)


def test_the_read_stops_at_the_end_captured_at_start(settings: Settings, topic: str) -> None:
    produce(settings, topic, 0, values(10, "early"))
    produce(settings, topic, 2, values(4, "early"))
    consumer = new_consumer(settings)
    try:
        reader = ReadToEnd(consumer, {(topic, p): 0 for p in range(PARTITIONS)})
        assert reader.ends == {(topic, 0): 10, (topic, 1): 0, (topic, 2): 4}
        produce(settings, topic, 0, values(5, "late"))  # after the ends were captured
        read = [bytes(msg.value() or b"") for msg in reader]
        assert sorted(read) == sorted(values(10, "early") + values(4, "early"))
        assert reader.positions == reader.ends

        later = ReadToEnd(consumer, reader.positions)  # goes on from where it stopped
        assert [msg.value() for msg in later] == values(5, "late")
        assert later.positions[(topic, 0)] == 15
    finally:
        consumer.close()


def test_a_partition_ending_in_a_transaction_marker_is_read_to_its_end(
        settings: Settings, topic: str) -> None:
    produce(settings, topic, 1, values(6), transactional=True)
    wait_for_stable_end(settings, topic, 1, 7)  # six records and the commit marker
    records, end = read_partition(settings, topic, 1, 0)
    assert end == 7  # the marker is never delivered: the position must say the end
    assert [value for _, value in records] == values(6)
    assert [msg.value() for msg in read_topic(settings, topic)] == values(6)
