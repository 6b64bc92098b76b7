"""Inject one scheduled fault into the chaos stack, and recover from it the way a
supervisor would (restart what was killed at once; SIGCONT what was stopped).

A crash-looping worker: its process is SIGKILLed whenever it reports a RunStarted
(read from `reports`), and restarted, for a bounded time.
"""

from __future__ import annotations

import time

from cli.chaos.schedule import Step
from cli.chaos.stack import BROKER, ChaosStack
from jobs import messages
from jobs.messages import RunStarted
from pipai.kafka.clients import new_consumer
from pipai.kafka.codec import PoisonMessage, message_codec
from pipai.kafka.reader import assign_at_end
from pipai.log import get_logger
from pipai.topics import Topics

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
    codec = message_codec(settings, messages, publish=False)
    consumer = new_consumer(settings, log_level=0)
    kills = 0
    try:
        assign_at_end(consumer, topic)
        deadline = time.monotonic() + duration_s
        while time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=500, timeout=0.2):
                if msg.error():
                    continue
                try:
                    report = codec.decode_message(msg)
                except PoisonMessage:
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
