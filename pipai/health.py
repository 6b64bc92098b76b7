"""Is the cluster side of the stack up? The broker, and whether the orchestrator and
engine consumer groups have members. Blocking Kafka admin calls with short timeouts:
call it from a thread (the API's /v1/health does, and caches the answer)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from pipai.kafka.clients import new_admin
from pipai.settings import Settings
from pipai.topics import Groups, Topics

UP, DOWN, STARTING, UNKNOWN = "up", "down", "starting", "unknown"


@dataclass(frozen=True)
class ClusterHealth:
    # {"broker"|"orchestrator"|"engine": {"state": up|down|unknown, details...}}
    components: dict[str, dict[str, Any]]
    # messages on events+results not yet in the view's stored offsets (None: unknown)
    view_lag: int | None


@dataclass
class ClusterProbe:
    settings: Settings
    broker_timeout_s: float = 1.0
    request_timeout_s: float = 2.0
    _admin: AdminClient | None = None

    @property
    def admin(self) -> AdminClient:
        if self._admin is None:  # one client, reused: no connection set-up per probe
            # back quickly after a broker restart (librdkafka's default waits up to 10 s)
            self._admin = new_admin(self.settings, **{"log_level": 0,
                                                      "reconnect.backoff.max.ms": 1000})
        return self._admin

    def groups(self) -> dict[str, str]:
        prefix = self.settings.topic_prefix
        groups = Groups.for_prefix(prefix)
        return {"orchestrator": groups.orchestrator, "engine": groups.engine}

    def probe(self, view_offsets: dict[str, dict[int, int]] | None = None) -> ClusterHealth:
        """The broker answers a metadata request; the groups have members; how far the
        offsets of a view (`{topic: {partition: next offset}}`) are behind the log."""
        out: dict[str, dict[str, Any]] = {}
        try:
            metadata = self.admin.list_topics(timeout=self.broker_timeout_s)
            brokers = len(metadata.brokers)
        except Exception as exc:
            metadata, brokers = None, 0
            out["broker"] = {"state": DOWN, "error": _short(exc)}
        if metadata is not None:
            out["broker"] = {"state": UP if brokers else DOWN, "brokers": brokers}
        if not brokers:
            for component in self.groups():  # cannot tell without a broker
                out[component] = {"state": UNKNOWN}
            self._admin = None
            return ClusterHealth(out, None)
        out.update(self._groups())
        lag = None if view_offsets is None else self._lag(metadata, view_offsets)
        if any("error" in c for c in out.values()):
            # A fresh client next time: after a broker restart librdkafka's admin client can
            # keep timing out on coordinator requests for minutes while the broker is fine.
            self._admin = None
        return ClusterHealth(out, lag)

    def _groups(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        names = self.groups()
        try:
            futures = self.admin.describe_consumer_groups(
                list(names.values()), request_timeout=self.request_timeout_s)
        except Exception as exc:
            return {c: {"state": UNKNOWN, "error": _short(exc)} for c in names}
        for component, group in names.items():
            try:
                members = len(futures[group].result().members)
            except Exception as exc:
                out[component] = {"state": UNKNOWN, "error": _short(exc)}
                continue
            out[component] = {"state": UP if members else DOWN, "members": members}
        return out

    def _lag(self, metadata: Any, view_offsets: dict[str, dict[int, int]]) -> int | None:
        topics = Topics.for_prefix(self.settings.topic_prefix)
        request = {TopicPartition(topic, p): OffsetSpec.latest()
                   for topic in (topics.events, topics.results) if topic in metadata.topics
                   for p in metadata.topics[topic].partitions}
        if not request:
            return None
        try:
            futures = self.admin.list_offsets(request, request_timeout=self.request_timeout_s)
            ends = {(tp.topic, tp.partition): f.result().offset for tp, f in futures.items()}
        except Exception:
            return None
        return sum(max(0, end - view_offsets.get(topic, {}).get(partition, 0))
                   for (topic, partition), end in ends.items())


def _short(exc: Exception) -> str:
    return str(exc)[:200]
