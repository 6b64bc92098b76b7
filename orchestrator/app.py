"""The orchestrator process: a faust-streaming loop around the pure decider.

For each input on `commands` (SubmitJob, CancelJob, WorkerSilent) or `reports`
(RunStarted/Progressed/Completed/Failed), keyed by job_id: load the job's state
from the RocksDB table, `decide`, append the events to `events` (and RunBacktest
items to `work`), fold them with `evolve`, store the state. Both input topics are
co-partitioned with the table, so one job is only ever handled by one worker.

Guarantee: at-least-once with idempotent effects (docs/architecture.md). Faust
sends the events as attachments of the input message, acknowledged before the
input's offset is committed; an input processed again after a crash either
finds its effect in the table (duplicate command id, non-advancing progress,
terminal state) or re-decides the same events with the same seq and event_id.

Liveness: a timer looks at running jobs in this worker's partitions; an attempt
with no report for the heartbeat timeout gets a WorkerSilent input on
`commands` (so it is decided in the partition's stream like any input).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Any

import faust

from orchestrator.decider import RUNNING, decide_with_reason, evolve, work_for
from orchestrator.messages import WorkerSilent, from_record, to_record
from orchestrator.state_codec import dump_state, load_state
from pipai.log import get_logger
from pipai.settings import Settings
from pipai.topics import Topics
from schemas.codec import DecodeError, default_codec

log = get_logger("orchestrator")


def build_app(settings: Settings) -> faust.App:
    topics = Topics.for_prefix(settings.topic_prefix)
    codec = default_codec()
    datadir = (settings.data_dir / "orchestrator" / settings.instance).resolve()
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        f"{settings.topic_prefix}.orchestrator",
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
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes,
                           "key_serializer": "raw", "value_serializer": "raw"}
    inputs = app.topic(topics.commands, topics.reports, partitions=settings.partitions, **raw)
    commands_out = app.topic(topics.commands, partitions=settings.partitions, **raw)
    events_out = app.topic(topics.events, partitions=settings.partitions, **raw)
    work_out = app.topic(topics.work, partitions=settings.partitions, **raw)
    # bytes keys and values: faust stores them raw (we serialise JobState ourselves)
    jobs = app.Table("jobs", partitions=settings.partitions, key_type=bytes, value_type=bytes)
    counters: Counter[str] = Counter()
    # job_id -> (attempt, wall ms of the last report); rebuilt after restarts with a grace period
    last_heard: dict[str, tuple[int, int]] = {}
    heartbeat_ms = int(settings.heartbeat_timeout_s * 1000)

    @app.agent(inputs)
    async def orchestrate(stream: Any) -> None:
        async for event in stream.events():
            key: bytes | None = event.key
            try:
                name, record = codec.decode(event.value)
                message = from_record(name, record)
            except (DecodeError, TypeError, KeyError) as exc:
                counters["poison"] += 1
                log.warning("poison_message_skipped", topic=event.message.topic,
                            partition=event.message.partition, offset=event.message.offset,
                            error=str(exc), poison_total=counters["poison"])
                continue
            job_id = message.job_id
            if key is not None and key.decode(errors="replace") != job_id:
                counters["poison"] += 1
                log.warning("key_mismatch_skipped", key=key, job_id=job_id)
                continue
            state = load_state(jobs.get(job_id.encode()), job_id)
            new_events, ignored = decide_with_reason(state, message)
            if ignored:
                counters[f"ignored_{ignored}"] += 1
                if ignored in ("stale_attempt", "foreign_run", "terminal", "unknown_job"):
                    log.info("report_dropped", job_id=job_id, reason=ignored,
                             dropped_total=counters[f"ignored_{ignored}"])
            if hasattr(message, "run_id"):
                last_heard[job_id] = (message.attempt, int(time.time() * 1000))
            for new in new_events:
                state = evolve(state, new)
                await events_out.send(key=job_id.encode(), value=codec.encode(*to_record(new)))
                work = work_for(state, new)
                if work is not None:
                    await work_out.send(key=job_id.encode(), value=codec.encode(*to_record(work)))
                log.debug("event", job_id=job_id, type=type(new).__name__, seq=new.seq)
            if new_events:
                jobs[job_id.encode()] = dump_state(state)
            if state.status != RUNNING:
                last_heard.pop(job_id, None)

    @app.timer(interval=max(0.5, settings.heartbeat_timeout_s / 4))
    async def check_liveness() -> None:
        now = int(time.time() * 1000)
        for raw_key, raw_state in list(jobs.items()):
            state = load_state(raw_state, raw_key.decode())
            if state.status != RUNNING:
                continue
            attempt, heard = last_heard.setdefault(state.job_id, (state.attempt, now))
            if attempt != state.attempt:
                last_heard[state.job_id] = (state.attempt, now)
                continue
            if now - heard >= heartbeat_ms:
                tick = WorkerSilent(job_id=state.job_id, attempt=state.attempt, now=now,
                                    max_attempts=settings.max_attempts)
                last_heard[state.job_id] = (state.attempt, now)  # one tick per timeout
                await commands_out.send(key=state.job_id.encode(),
                                        value=codec.encode(*to_record(tick)))
                log.warning("worker_silent", job_id=state.job_id, attempt=state.attempt)

    return app


def main() -> None:
    from pipai.topics import ensure_topics

    settings = Settings.from_env()
    ensure_topics(settings)
    app = build_app(settings)
    sys.argv = ["orchestrator", "worker", "--loglevel", "warn", "--without-web"]
    app.main()


if __name__ == "__main__":
    main()
