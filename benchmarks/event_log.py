"""Event-log throughput: commands accepted per second through the orchestrator, and
projection rebuild events per second, each beside the raw confluent-kafka consume
rate of the same topic measured in the same run.

    python -m benchmarks.event_log [--jobs 20000]

Starts its own local broker (or uses KAFKA_BOOTSTRAP_SERVERS) and a real orchestrator
process; only loopback traffic.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka import TopicPartition

from cli.stack import Stack
from jobs import messages
from jobs.messages import SubmitJob
from pipai.broker import LocalBroker
from pipai.kafka.clients import new_consumer, new_producer
from pipai.kafka.codec import MessageCodec
from pipai.kafka.reader import topic_partitions, watermarks
from pipai.processes import free_port
from pipai.settings import Settings
from pipai.topics import Topics, ensure_topics
from projections.rebuild import rebuild
from schemas.codec import default_codec

CONFIG = json.dumps({"template_id": "tpl_grid", "params": {"grid_levels": 8,
                     "upper_price": "72000", "lower_price": "60000"}, "symbols": ["BTCUSDT"],
                     "timeframe": "1h", "start": "2025-01-01T00:00:00Z",
                     "end": "2025-12-31T23:59:59Z", "capital": "10000.00", "leverage": 1,
                     "fee_model": "fixed_bps", "fee_bps": "5"}, sort_keys=True)


def total_messages(settings: Settings, topic: str) -> int:
    consumer = new_consumer(settings)
    try:
        ends = watermarks(consumer, topic_partitions(consumer, [topic], 10), 10)
        return sum(high - low for low, high in ends.values())
    finally:
        consumer.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc), in seconds: a figure that
    holds when other work shares the cores, unlike a rate."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def raw_consume_rate(settings: Settings, topic: str, expected: int) -> float:
    """Messages/s of a bare confluent-kafka consumer reading `topic` from the start."""
    consumer = new_consumer(settings)
    consumer.assign([TopicPartition(t, p, 0) for t, p in topic_partitions(consumer, [topic], 10)])
    seen = 0
    started = time.perf_counter()
    while seen < expected:
        seen += sum(1 for m in consumer.consume(10_000, timeout=1.0) if not m.error())
    elapsed = time.perf_counter() - started
    consumer.close()
    return seen / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=20_000)
    args = parser.parse_args()
    n = args.jobs
    tmp = Path(tempfile.mkdtemp(prefix="pipai-bench-"))
    broker = None
    settings = Settings.from_env().with_(
        data_dir=tmp, topic_prefix=f"bench.{uuid.uuid4().hex[:8]}", partitions=6)
    if not settings.bootstrap_servers:
        broker = LocalBroker(tmp / "kafka", free_port(), free_port())
        broker.start()
        settings = settings.with_(bootstrap_servers=broker.bootstrap)
    topics = ensure_topics(settings)
    stack = Stack(settings, log_dir=tmp / "logs")
    try:
        stack.start_process("orchestrator", "orchestrator")
        # outside the timed part: one command decided tells us the orchestrator runs
        _produce(settings, topics, 1)
        deadline = time.monotonic() + 120
        while total_messages(settings, topics.events) < 1:
            if time.monotonic() > deadline:
                raise TimeoutError("the orchestrator decided nothing within 120 s")
            time.sleep(0.1)  # start-up poll
        base_events = total_messages(settings, topics.events)
        base_commands = total_messages(settings, topics.commands)

        orchestrator = stack.children["orchestrator"].pid
        cpu_before = cpu_seconds(orchestrator)
        started = time.perf_counter()
        _produce(settings, topics, n)
        while total_messages(settings, topics.events) < base_events + n:
            time.sleep(0.05)  # measurement poll
        orchestrated = n / (time.perf_counter() - started)
        cpu_per_command_us = (cpu_seconds(orchestrator) - cpu_before) / n * 1e6
        raw_commands = raw_consume_rate(settings, topics.commands, base_commands + n)

        events = total_messages(settings, topics.events)
        started = time.perf_counter()
        view = rebuild(settings, tmp / "rebuilt")
        rebuild_rate = events / (time.perf_counter() - started)
        view.close()
        raw_events = raw_consume_rate(settings, topics.events, events)

        print(f"jobs submitted:                       {n}")
        print(f"orchestrator: commands accepted/s     {orchestrated:12,.0f}")
        print(f"orchestrator CPU per command, us      {cpu_per_command_us:12,.0f}"
              f"  (CPU-bound ceiling {1e6 / cpu_per_command_us:,.0f}/s)")
        print(f"raw consume of commands topic, msg/s  {raw_commands:12,.0f}")
        print(f"  ratio orchestrator / raw            {orchestrated / raw_commands:12.3f}")
        print(f"projection rebuild: events/s          {rebuild_rate:12,.0f}  ({events} events)")
        print(f"raw consume of events topic, msg/s    {raw_events:12,.0f}")
        print(f"  ratio rebuild / raw                 {rebuild_rate / raw_events:12.3f}")
        print(json.dumps({"benchmark": "event_log", "jobs": n,
                          "orchestrator_commands_per_s": round(orchestrated),
                          "raw_commands_per_s": round(raw_commands),
                          "orchestrator_ratio": round(orchestrated / raw_commands, 3),
                          "orchestrator_cpu_us_per_command": round(cpu_per_command_us),
                          "rebuild_events_per_s": round(rebuild_rate),
                          "raw_events_per_s": round(raw_events),
                          "rebuild_ratio": round(rebuild_rate / raw_events, 3)}))
    finally:
        stack.stop()
        if broker is not None:
            broker.stop()


def _produce(settings: Settings, topics: Topics, count: int) -> None:
    codec = MessageCodec(default_codec(), messages)
    producer = new_producer(settings, **{"linger.ms": 20})
    now = int(time.time() * 1000)
    for i in range(count):
        job_id = f"bt_{uuid.uuid4().hex[:16]}"
        command = SubmitJob(command_id=uuid.uuid4().hex, job_id=job_id, owner="bench",
                            config_json=CONFIG, submitted_at=now + i, correlation_id=job_id)
        while True:
            try:
                producer.produce(topics.commands, key=job_id.encode(),
                                 value=codec.encode(command))
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    producer.flush(60)


if __name__ == "__main__":
    main()
