"""Configured confluent-kafka clients, built from `Settings` in one place.

`partitioner: murmur2_random` makes librdkafka place keys exactly like the Java
client and aiokafka (faust) do, so a job_id lands on the same partition number
of every topic whichever process wrote it: the topics stay co-partitioned.
Callers pass only what differs for their role (a group's session timeouts, a
quiet `log_level`, the API's at-most-once command producer) as `extra`.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from pipai.settings import Settings

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
UNUSED_GROUP = "pipai-unused"  # assign() only: librdkafka still wants a group id string


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
        "group.id": group_id if group_id is not None else UNUSED_GROUP,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "fetch.max.bytes": MAX_MESSAGE_BYTES * 2,
        "max.partition.fetch.bytes": MAX_MESSAGE_BYTES,
        "log_level": 3,
    }
    config.update(extra)
    return config


def new_producer(settings: Settings, **extra: Any) -> Producer:
    """An idempotent acks=all producer (unless `extra` says otherwise)."""
    return Producer(producer_config(settings, **extra))


def new_consumer(settings: Settings, group_id: str | None = None, **extra: Any) -> Consumer:
    """A read_committed consumer that commits only when told; group-less (assign() only)
    unless `group_id` is given."""
    return Consumer(consumer_config(settings, group_id, **extra))


def new_admin(settings: Settings, **extra: Any) -> AdminClient:
    return new_admin_at(settings.bootstrap, **extra)


def new_admin_at(bootstrap: str, **extra: Any) -> AdminClient:
    """An admin client for a bootstrap address known before any `Settings` (the broker's
    own readiness probe)."""
    return AdminClient({"bootstrap.servers": bootstrap, **extra})
