"""Producer and consumer settings for confluent-kafka, in one place.

`partitioner: murmur2_random` makes librdkafka place keys exactly like the Java
client and aiokafka (faust) do, so a job_id lands on the same partition number
of every topic whichever process wrote it: the topics stay co-partitioned.
"""

from __future__ import annotations

from typing import Any

from pipai.settings import Settings

MAX_MESSAGE_BYTES = 16 * 1024 * 1024


def producer_config(settings: Settings, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap,
        "partitioner": "murmur2_random",
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 2,
        "compression.type": "zstd",
        "message.max.bytes": MAX_MESSAGE_BYTES,
        "log_level": 3,
    }
    config.update(extra)
    return config


def consumer_config(settings: Settings, group_id: str | None, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "fetch.max.bytes": MAX_MESSAGE_BYTES * 2,
        "max.partition.fetch.bytes": MAX_MESSAGE_BYTES,
        "log_level": 3,
    }
    if group_id is not None:
        config["group.id"] = group_id
    else:  # assign() only: librdkafka still wants a group id string
        config["group.id"] = "pipai-unused"
    config.update(extra)
    return config
