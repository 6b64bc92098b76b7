"""Inject one scheduled fault into the chaos stack, and recover from it the way a
supervisor would (restart what was killed at once; SIGCONT what was stopped).

A crash-looping worker: its process is SIGKILLed whenever it reports a RunStarted
(read from `reports`), and restarted, for a bounded time.
"""

from __future__ import annotations

import time

from confluent_kafka import OFFSET_END, Consumer, TopicPartition

from cli.chaos.schedule import Step
from cli.chaos.stack import BROKER, ChaosStack
from jobs.messages import RunStarted, from_record
from pipai.kafka_config import consumer_config
from pipai.log import get_logger
from pipai.schema_log import kafka_codec
from pipai.topics import Topics
from schemas.codec import DecodeError

log = get_logger("cli.chaos.faults")


def inject(chaos: ChaosStack, step: Step, crashloop_s: float) -> str:
    """Perform `step`'s fault and its recovery; returns a short note of what happened."""
    kind = step.fault.split("-", 1)[1]
    target = step.target
    if kind == "sigkill":
        chaos.kill(target)
        chaos.restart(target)
        return f"killed {target}, restarted"
    if kind == "sigstop":
        chaos.pause(target)
        time.sleep(step.pause_s)  # the fault itself: frozen this long
        chaos.resume(target)
        return f"stopped {target} {step.pause_s:.1f}s"
    if kind == "restart" and target == BROKER:
        chaos.restart_broker_gracefully()
        return "broker restarted (SIGTERM)"
    if kind == "crashloop":
        kills = crash_loop(chaos, target, crashloop_s)
        return f"{target} SIGKILLed at {kills} run starts in {crashloop_s:.0f}s"
    raise ValueError(f"unknown fault {step.fault}")


def crash_loop(chaos: ChaosStack, target: str, duration_s: float) -> int:
    """SIGKILL `target` whenever it starts a run, restarting it each time, for duration_s."""
    settings = chaos.settings
    topic = Topics.for_prefix(settings.topic_prefix).reports
    codec = kafka_codec(settings, publish=False)
    consumer = Consumer(consumer_config(settings, None, log_level=0))
    kills = 0
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in partitions])
        deadline = time.monotonic() + duration_s
        while time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=500, timeout=0.2):
                if msg.error():
                    continue
                try:
                    report = from_record(*codec.decode(msg.value()))
                except (DecodeError, TypeError, KeyError):
                    continue
                pid = chaos.pid(target)
                if isinstance(report, RunStarted) and pid is not None \
                        and report.worker_id.endswith(f"-{pid}"):
                    chaos.kill(target)
                    chaos.restart(target)
                    kills += 1
                    log.info("chaos_crash_loop_kill", target=target, job_id=report.job_id,
                             attempt=report.attempt, kills=kills)
    finally:
        consumer.close()
    return kills
