"""A command's fate is its own (api/command_log.py): the purge that ends one command's
patience empties the producer's whole queue, and a neighbour it takes early must not be
answered on that timing. On a real broker that is down, so both commands sit in
librdkafka's queue: the first is refused at its own patience, the second — queued
later — stays in doubt until its own, and neither ever reaches the log.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from api.command_log import CommandLog, Delivery
from pipai.broker import LocalBroker
from pipai.kafka.reader import read_topic
from pipai.settings import Settings
from pipai.topics import Topics, ensure_topics

pytestmark = pytest.mark.integration
COMMAND_TIMEOUT_S = 15.0  # message timeout 5 s, patience 3 s (api/command_log.py)
LATER_S = 2.0  # the second command is queued this long after the first


def test_a_neighbours_purge_does_not_answer_for_a_command(own_broker: LocalBroker,
                                                          tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, bootstrap_servers=own_broker.bootstrap,
                        topic_prefix="neighbours", command_timeout_s=COMMAND_TIMEOUT_S)
    ensure_topics(settings)
    topic = Topics.for_prefix(settings.topic_prefix).commands
    log = CommandLog(settings, topic)

    async def scenario() -> tuple[list[Delivery], list[float]]:
        assert await log.append(b"warm", b"warm") is Delivery.ON_LOG
        own_broker.stop()
        started = time.monotonic()

        async def timed(key: bytes, after_s: float) -> tuple[Delivery, float]:
            await asyncio.sleep(after_s)  # staggering the two, not synchronising them
            queued = time.monotonic()
            outcome = await log.append(key, key)
            return outcome, time.monotonic() - queued

        (first, first_s), (second, second_s) = await asyncio.gather(
            timed(b"first", 0.0), timed(b"second", LATER_S))
        assert time.monotonic() - started >= LATER_S + log.queue_patience_s
        return [first, second], [first_s, second_s]

    try:
        outcomes, waited = asyncio.run(scenario())
    finally:
        log.close()
        own_broker.start()
    assert outcomes == [Delivery.NOT_ON_LOG, Delivery.NOT_ON_LOG]
    # each answered at its own patience, not the second at the first's purge
    assert all(w >= log.queue_patience_s - 0.05 for w in waited), waited
    assert log.requeued >= 1
    keys = {m.key() for m in read_topic(settings, topic)}
    assert keys == {b"warm"}, keys  # neither refused command ever landed
