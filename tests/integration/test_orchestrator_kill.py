"""Issue 8, defect 1: an orchestrator SIGKILL must lose no accepted input.

The orchestrator's table used to be written (to the local RocksDB, which survives
SIGKILL) before the events and work items of the same input were on the log. A
kill in between left the table ahead of the log; the input, processed again
after the restart, found its effect in the table and decided nothing. Here a
burst of SubmitJob commands goes straight to `commands` while the orchestrator
is SIGKILLed mid-burst, three times, after a broker restart (the sequence of the
report), and every check reads the topics: every command accepted exactly once,
a work item for each, a decision record for every input offset.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from cli.stack import Stack
from jobs.messages import InputDecided, JobAccepted, SubmitJob, from_record, to_record
from pipai.broker import LocalBroker
from pipai.kafka.clients import consumer_config, producer_config
from pipai.kafka.reader import read_topic
from pipai.processes import kill
from pipai.schema_log import kafka_codec
from pipai.settings import Settings
from pipai.topics import Groups, Topics, ensure_topics
from tests.integration.conftest import grid_config, stack_settings

pytestmark = pytest.mark.integration

BURST = 1500


def _events_end(settings: Settings) -> int:
    consumer = Consumer(consumer_config(settings, None))
    try:
        topic = Topics.for_prefix(settings.topic_prefix).events
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                   for p in range(settings.partitions))
    finally:
        consumer.close()


def _wait_group_stable(settings: Settings, timeout_s: float = 90.0,
                       gone: frozenset[str] = frozenset()) -> frozenset[str]:
    """Wait until the orchestrator group is stable with members none of which is in
    `gone` (a killed process stays a member until its session times out: a stable group
    with it alone says nothing of its successor). Returns the members' ids."""
    from confluent_kafka import ConsumerGroupState

    admin = AdminClient({"bootstrap.servers": settings.bootstrap})
    group = Groups.for_prefix(settings.topic_prefix).orchestrator
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            state = admin.describe_consumer_groups([group], request_timeout=5)[group].result()
            members = frozenset(m.member_id for m in state.members)
            if state.state == ConsumerGroupState.STABLE and members and not members & gone:
                return members
        except Exception:  # the group or the broker is not there yet
            pass
        time.sleep(0.2)  # poll interval of a readiness check with a deadline
    raise TimeoutError(f"{group} not stable without {sorted(gone)} within {timeout_s}s")


def _orchestrator_report(stack: Stack) -> str:
    """What a failed wait needs to be understood: is the orchestrator alive, and the tail
    of its log (the test's stack writes one per process)."""
    proc = stack.children["orchestrator"]
    assert stack.log_dir is not None
    lines = (stack.log_dir / "orchestrator.log").read_text(errors="replace").splitlines()
    tail = "\n".join(line[:400] for line in lines[-30:])
    return f"orchestrator exit code {proc.poll()}; its log ends:\n{tail}"


def _submit_burst(settings: Settings, producer: Producer, n: int) -> list[str]:
    codec = kafka_codec(settings, publish=False)
    topic = Topics.for_prefix(settings.topic_prefix).commands
    config = json.dumps(grid_config())
    ids = []
    for _ in range(n):
        job_id = f"bt_{uuid.uuid4().hex[:12]}"
        command = SubmitJob(command_id=str(uuid.uuid4()), job_id=job_id, owner="demo",
                            config_json=config, submitted_at=int(time.time() * 1000),
                            correlation_id=str(uuid.uuid4()))
        producer.produce(topic, key=job_id.encode(), value=codec.encode(*to_record(command)))
        producer.poll(0)
        ids.append(job_id)
    assert producer.flush(30) == 0
    return ids


def _decoded(settings: Settings, topic: str) -> Iterator[tuple[int, int, object]]:
    codec = kafka_codec(settings, publish=False)
    for msg in read_topic(settings, topic):
        yield msg.partition(), msg.offset(), from_record(*codec.decode(msg.value()))


def _accepted(settings: Settings) -> Counter[str]:
    events = Topics.for_prefix(settings.topic_prefix).events
    return Counter(e.job_id for _, _, e in _decoded(settings, events)
                   if isinstance(e, JobAccepted))


def test_sigkill_mid_burst_after_broker_restart_loses_no_input(
        own_broker: LocalBroker, market_dir: Path,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    settings = stack_settings(tmp_path_factory.mktemp("killed"), own_broker.bootstrap,
                              market_dir, partitions=6, orchestrator_session_timeout_s=6.0)
    topics = ensure_topics(settings)
    stack = Stack(settings, log_dir=settings.data_dir / "logs")
    producer = Producer(producer_config(settings))
    submitted: list[str] = []
    try:
        stack.start_process("orchestrator", "orchestrator")
        _wait_group_stable(settings)
        # the reported sequence: the broker stopped (SIGTERM) and restarted, then kills
        own_broker.stop()
        own_broker.start()
        _wait_group_stable(settings)
        for kill_no in range(3):
            before = _events_end(settings)
            submitted += _submit_burst(settings, producer, BURST)
            deadline = time.monotonic() + 120
            while _events_end(settings) < before + BURST // 4:  # mid-burst
                assert time.monotonic() < deadline, (
                    f"before kill {kill_no + 1}: no {BURST // 4} events within 120 s of the "
                    f"burst ({_events_end(settings) - before} so far); "
                    + _orchestrator_report(stack))
                time.sleep(0.02)  # poll interval; the deadline bounds the wait
            members = _wait_group_stable(settings)  # the member that is about to die
            kill(stack.children["orchestrator"])
            stack.start_process("orchestrator", "orchestrator")
            _wait_group_stable(settings, gone=members)

        deadline = time.monotonic() + 180
        accepted = _accepted(settings)
        while set(submitted) - set(accepted) and time.monotonic() < deadline:
            time.sleep(1.0)  # poll interval; the deadline bounds the wait
            accepted = _accepted(settings)
    finally:
        stack.stop()

    lost = sorted(set(submitted) - set(accepted))
    assert not lost, f"{len(lost)} accepted commands never decided, e.g. {lost[:5]}"
    assert [j for j, n in accepted.items() if n > 1] == []

    work = {key for key in (m.key() for m in read_topic(settings, topics.work)) if key}
    assert set(submitted) <= {k.decode() for k in work}, "a job was accepted without work"

    decided = {(d.input_partition, d.input_offset)
               for _, _, d in _decoded(settings, topics.decisions)
               if isinstance(d, InputDecided) and d.input_topic == topics.commands}
    inputs = {(p, o) for p, o, _ in _decoded(settings, topics.commands)}
    assert inputs - decided == set()


LARGE_BURST = 4000


def test_sigkill_with_thousands_of_inputs_decided_but_not_on_the_log_loses_none(
        own_broker: LocalBroker, market_dir: Path,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """Issue 10: the orchestrator acknowledges an input only once its effects are on the
    log (orchestrator/input_acks.py). Here the broker is frozen (SIGSTOP) while the
    orchestrator decides what it already fetched, so thousands of decided inputs wait
    with their effects queued in the producer; then the orchestrator is SIGKILLed, the
    broker resumes and a new orchestrator starts. Every command is accepted exactly once,
    with its work item and a decision record, as the topics show."""
    settings = stack_settings(tmp_path_factory.mktemp("batch"), own_broker.bootstrap,
                              market_dir, partitions=6, orchestrator_session_timeout_s=6.0)
    topics = ensure_topics(settings)
    stack = Stack(settings, log_dir=settings.data_dir / "logs")
    producer = Producer(producer_config(settings))
    try:
        stack.start_process("orchestrator", "orchestrator")
        _wait_group_stable(settings)
        before = _events_end(settings)
        submitted = _submit_burst(settings, producer, LARGE_BURST)
        deadline = time.monotonic() + 60
        while _events_end(settings) < before + LARGE_BURST // 10:  # it is deciding
            assert time.monotonic() < deadline, "the orchestrator made no progress"
            time.sleep(0.01)  # poll interval; the deadline bounds the wait
        assert own_broker.process is not None
        os.kill(own_broker.process.pid, signal.SIGSTOP)
        try:
            deciding_cpu = _wait_for_decided(stack)
            kill(stack.children["orchestrator"])
        finally:
            os.kill(own_broker.process.pid, signal.SIGCONT)
        stack.start_process("orchestrator", "orchestrator")
        deadline = time.monotonic() + 180
        accepted = _accepted(settings)
        while set(submitted) - set(accepted) and time.monotonic() < deadline:
            time.sleep(1.0)  # poll interval; the deadline bounds the wait
            accepted = _accepted(settings)
    finally:
        stack.stop()
    # it did decide inputs that could not reach the log (100 ms of CPU is hundreds)
    assert deciding_cpu >= 10, deciding_cpu
    lost = sorted(set(submitted) - set(accepted))
    assert not lost, f"{len(lost)} accepted commands never decided, e.g. {lost[:5]}"
    assert [j for j, n in accepted.items() if n > 1] == []
    work = Counter(k.decode() for k in (m.key() for m in read_topic(settings, topics.work)) if k)
    assert set(submitted) <= set(work), "a job was accepted without work"
    decisions = {(d.input_partition, d.input_offset)
                 for _, _, d in _decoded(settings, topics.decisions)
                 if isinstance(d, InputDecided) and d.input_topic == topics.commands}
    assert {(p, o) for p, o, _ in _decoded(settings, topics.commands)} - decisions == set()


def _wait_for_decided(stack: Stack) -> int:
    """With the broker frozen, let the orchestrator decide what it has fetched; its CPU
    time stops growing once it has (the inputs are decided, their effects queued).
    The CPU ticks (10 ms) it spent meanwhile."""
    pid = stack.children["orchestrator"].pid
    stat = Path(f"/proc/{pid}/stat")

    def cpu() -> int:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    deadline = time.monotonic() + 30
    first = last = cpu()
    steady_since = time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - steady_since < 1.0:
        time.sleep(0.1)  # sampling interval of the CPU counter, bounded by the deadline
        now = cpu()
        if now - last > 2:  # more than 20 ms of CPU in 100 ms: still deciding
            last, steady_since = now, time.monotonic()
    return last - first
