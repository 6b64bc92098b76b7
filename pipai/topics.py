"""The five topics of docs/architecture.md, the orchestrator's decision records, and an
internal compacted topic of writer schemas:
names, configs, and idempotent creation.

Kafka configuration of topics lives here and nowhere else. All topics share one
partition count so that they are co-partitioned by job_id.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from pipai.kafka.clients import new_admin
from pipai.settings import Settings

DAY_MS = 24 * 3600 * 1000
# Results carry equity curves and trade lists: allow large (compressed) records.
RESULTS_MAX_MESSAGE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Topics:
    commands: str
    events: str
    work: str
    reports: str
    results: str
    decisions: str  # the orchestrator's verdict on each input (docs/architecture.md)
    schemas: str  # internal: writer schemas by fingerprint (pipai.schema_log)

    @classmethod
    def for_prefix(cls, prefix: str) -> Topics:
        return cls(
            commands=f"{prefix}.commands",
            events=f"{prefix}.events",
            work=f"{prefix}.work",
            reports=f"{prefix}.reports",
            results=f"{prefix}.results",
            decisions=f"{prefix}.decisions",
            schemas=f"{prefix}.schemas",
        )

    def configs(self) -> dict[str, dict[str, str]]:
        week = str(7 * DAY_MS)
        return {
            self.commands: {"retention.ms": week, "cleanup.policy": "delete"},
            # The audit log: kept forever, never compacted.
            self.events: {"retention.ms": "-1", "retention.bytes": "-1",
                          "cleanup.policy": "delete"},
            self.work: {"retention.ms": week, "cleanup.policy": "delete"},
            self.reports: {"retention.ms": week, "cleanup.policy": "delete"},
            self.results: {
                "cleanup.policy": "compact",
                "max.message.bytes": str(RESULTS_MAX_MESSAGE_BYTES),
            },
            self.decisions: {"retention.ms": week, "cleanup.policy": "delete"},
            self.schemas: {"cleanup.policy": "compact"},
        }


@dataclass(frozen=True)
class Groups:
    """The consumer groups of the stack's processes, named once (health, the stack's
    readiness waits and the processes themselves read them here)."""

    orchestrator: str  # faust's app id, the orchestrator group
    engine: str

    @classmethod
    def for_prefix(cls, prefix: str) -> Groups:
        return cls(orchestrator=f"{prefix}.orchestrator", engine=f"{prefix}.engine")


def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> Topics:
    """Create the topics if missing (existing ones are left as they are)."""
    topics = Topics.for_prefix(settings.topic_prefix)
    admin = new_admin(settings)
    new = [
        NewTopic(name, settings.partitions, settings.replication_factor, config=config)
        for name, config in topics.configs().items()
    ]
    for name, future in admin.create_topics(new, request_timeout=timeout_s).items():
        try:
            future.result(timeout=timeout_s)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise RuntimeError(f"cannot create topic {name}: {exc}") from exc
    _wait_for_leaders(admin, list(topics.configs()), timeout_s)
    return topics


def _wait_for_leaders(admin: AdminClient, names: list[str], timeout_s: float) -> None:
    """A new topic answers requests only once each partition has a leader."""
    deadline = time.monotonic() + timeout_s
    while True:
        meta = admin.list_topics(timeout=timeout_s)
        ready = all(
            name in meta.topics and meta.topics[name].error is None
            and meta.topics[name].partitions
            and all(p.leader >= 0 and p.error is None
                    for p in meta.topics[name].partitions.values())
            for name in names
        )
        if ready:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics {names} have no leaders after {timeout_s}s")
        time.sleep(0.1)  # poll interval of a readiness check with a deadline
