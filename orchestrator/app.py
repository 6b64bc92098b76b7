"""The orchestrator process: faust-streaming as the runtime around `Orchestrator`.

faust consumes `commands` (SubmitJob, CancelJob, WorkerSilent) and `reports`
(RunStarted/Progressed/Completed/Failed), keyed by job_id and co-partitioned with
the RocksDB table of job states, so one job is only ever handled by one worker; it
produces to `events`, `work`, `decisions` and `commands`, and runs the timers.
Everything decided is decided by `orchestrator.orchestrator.Orchestrator`; this
module only builds the faust app and wires its agent, timers and partition callback
to the class's lifecycle methods (`orchestrator.faust_runtime` adapts faust to the
class's ports).

Guarantee: at-least-once with idempotent effects, and no event written twice
(docs/architecture.md, "Delivery guarantee of the orchestrator"). An input is
acknowledged, so committed, only once its effects are on the log
(orchestrator/input_acks.py), so nothing decided is lost.
"""

from __future__ import annotations

import sys
from typing import Any

import faust

from jobs import messages
from orchestrator.faust_runtime import (
    FaustInputConsumer,
    FaustJobTable,
    FaustLog,
    SinkChangelogTable,
    idempotent_producer,
    no_gaps_acked_for,
    quiet_client_logs,
)
from orchestrator.kafka_log import KafkaLog
from orchestrator.log_reads import KafkaLogReader, SystemClock, exit_on_effect_failure
from orchestrator.orchestrator import Orchestrator
from orchestrator.ports import InputRecord, Log, Out
from pipai.kafka.codec import message_codec
from pipai.settings import Settings
from pipai.topics import Groups, Topics

# the topics are raw bytes both ways: the codec (de)serialises the messages
RAW: dict[str, Any] = {"key_type": bytes, "value_type": bytes,
                       "key_serializer": "raw", "value_serializer": "raw"}


def faust_app(settings: Settings) -> faust.App:
    datadir = (settings.data_dir / "orchestrator" / settings.instance).resolve()
    datadir.mkdir(parents=True, exist_ok=True)
    return faust.App(
        Groups.for_prefix(settings.topic_prefix).orchestrator,
        broker=f"kafka://{settings.bootstrap}",
        store="rocksdb://",
        datadir=str(datadir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        processing_guarantee=settings.processing_guarantee,
        broker_session_timeout=settings.orchestrator_session_timeout_s,
        broker_heartbeat_interval=max(1.0, settings.orchestrator_session_timeout_s / 4),
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        broker_commit_every=1000,
        broker_commit_interval=0.5,
    )


def orchestrator_for(app: faust.App, settings: Settings) -> Orchestrator:
    """The class over this app's table, topics and consumer."""
    topics = Topics.for_prefix(settings.topic_prefix)
    names = {Out.EVENTS: topics.events, Out.WORK: topics.work,
             Out.DECISIONS: topics.decisions, Out.COMMANDS: topics.commands}
    log_: Log
    if settings.processing_guarantee == "exactly_once":
        # the effects must go inside faust's transactions, so through its producer
        log_ = FaustLog({out: app.topic(name, partitions=settings.partitions, **RAW)
                         for out, name in names.items()})
    else:
        log_ = KafkaLog(settings, names)
    # bytes keys and values: faust stores them raw (we serialise JobState ourselves)
    table_options: dict[str, Any] = {"partitions": settings.partitions, "key_type": bytes,
                                     "value_type": bytes}
    if isinstance(log_, KafkaLog):  # the changelog goes out through librdkafka too
        table = SinkChangelogTable(app, name="jobs", beacon=app.tables.beacon,
                                   **table_options)
        table.sink, table.on_failure = log_, exit_on_effect_failure
        jobs = app.tables.add(table)
    else:
        jobs = app.Table("jobs", **table_options)
    return Orchestrator(
        settings, message_codec(settings, messages), FaustJobTable(jobs),
        log_,
        FaustInputConsumer(app),
        KafkaLogReader(settings, topics.events, app.conf.id),
        SystemClock(), exit_on_effect_failure)


def build_app(settings: Settings) -> faust.App:
    topics = Topics.for_prefix(settings.topic_prefix)
    no_gaps_acked_for({topics.commands, topics.reports})
    idempotent_producer()
    quiet_client_logs()
    app = faust_app(settings)
    core = orchestrator_for(app, settings)
    inputs = app.topic(topics.commands, topics.reports, partitions=settings.partitions, **RAW)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(_: Any, assigned: Any = (), **__: Any) -> None:
        await core.on_partitions_assigned([(tp.topic, tp.partition) for tp in assigned])

    @app.agent(inputs)
    async def orchestrate(stream: Any) -> None:
        # acknowledged by the orchestrator once the input's effects are on the log
        # (orchestrator/input_acks.py), not by faust when the agent moves on
        async for event in stream.noack().events():
            message = event.message
            await core.on_input(InputRecord(message.topic, message.partition, message.offset,
                                            event.key, event.value, event))

    @app.timer(interval=1.0)
    async def refetch_stalled_inputs() -> None:
        await core.on_stall_timer()

    @app.timer(interval=max(0.5, settings.heartbeat_timeout_s / 4))
    async def check_liveness() -> None:
        await core.on_liveness_timer()

    return app


def main() -> None:
    from pipai.topics import ensure_topics

    settings = Settings.from_env()
    ensure_topics(settings)
    if settings.orchestrator_runtime == "kafka" and settings.processing_guarantee != "exactly_once":
        from orchestrator.kafka_runtime import run

        run(settings)
        return
    app = build_app(settings)
    sys.argv = ["orchestrator", "worker", "--loglevel", "warn", "--without-web"]
    app.main()


if __name__ == "__main__":
    main()
