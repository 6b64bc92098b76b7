"""Engine workers SIGKILLed mid-job on the real broker: redelivered runs and crash loops.

A killed worker leaves its work item uncommitted, so the item is redelivered (after
the engine's 10 s session timeout) and runs again under a new run id. The heartbeat
timeout here is longer than that redelivery, as in production (30 s default), so the
redelivered run reports before the liveness check fires: a crash loop must still end in
WORKER_LOST within heartbeat timeout x max attempts, and a single crash must end `done`
without waiting out a heartbeat timeout. The runs are seen on the `reports` topic and
their worker is found by its pid (worker_id is `host-pid`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from jobs.audit import verify
from pipai.kafka.clients import consumer_config
from pipai.processes import kill
from pipai.topics import Topics
from projections.rebuild import log_events
from schemas.codec import default_codec
from tests.integration.conftest import LiveStack, grid_config, start_stack

pytestmark = pytest.mark.integration

HEARTBEAT_S = 20.0  # longer than the engine's session timeout (10 s): redelivery comes first
MAX_ATTEMPTS = 3
PACE_S = 6.0  # every job lasts at least this long: time to see a run start and kill it
ENGINE_SESSION_S = 10.0  # workers/engine_worker.py: a killed worker's partitions move on after this
TERMINAL = ("done", "failed", "cancelled")


@pytest.fixture(scope="module")
def crash_stack(kafka_bootstrap: str, market_dir: Path,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    yield from start_stack(
        tmp_path_factory.mktemp("crash-loop"), kafka_bootstrap, market_dir,
        engine_workers=2, engine_min_job_seconds=PACE_S, heartbeat_timeout_s=HEARTBEAT_S,
        max_attempts=MAX_ATTEMPTS)


class RunWatch:
    """Follows `reports` from now on: the RunStarted of one job, in arrival order."""

    def __init__(self, live: LiveStack) -> None:
        self.topic = Topics.for_prefix(live.settings.topic_prefix).reports
        self.consumer = Consumer(consumer_config(live.settings, None))
        partitions = self.consumer.list_topics(self.topic, timeout=10).topics[self.topic].partitions
        # explicit end offsets, so no report produced after this point can be skipped
        self.consumer.assign([
            TopicPartition(self.topic, p,
                           self.consumer.get_watermark_offsets(TopicPartition(self.topic, p),
                                                               timeout=10)[1])
            for p in partitions])
        self.codec = default_codec()

    def next_start(self, job_id: str, until: Callable[[], bool],
                   timeout_s: float) -> dict[str, Any] | None:
        """The job's next RunStarted, or None once `until()` holds or the time is up."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            msg = self.consumer.poll(0.2)
            if msg is None or msg.error():
                if until():
                    return None
                continue
            name, record = self.codec.decode(msg.value())
            if name == "RunStarted" and record["job_id"] == job_id:
                return record
        return None

    def close(self) -> None:
        self.consumer.close()


def kill_worker_of(live: LiveStack, run: dict[str, Any]) -> None:
    """SIGKILL the engine worker executing `run`, and start a new one in its place."""
    pid = int(str(run["worker_id"]).rsplit("-", 1)[1])
    for name, proc in list(live.stack.children.items()):
        if name.startswith("engine-") and proc.pid == pid:
            kill(proc)
            live.stack.start_process(name, "workers")
            return
    raise AssertionError(f"no engine worker with pid {pid}")


def status_of(live: LiveStack, job_id: str) -> dict[str, Any]:
    return dict(live.client.get(f"/v1/backtest/jobs/{job_id}").json())


def history_of(live: LiveStack, job_id: str) -> list[dict[str, Any]]:
    return list(live.client.get(f"/v1/backtest/jobs/{job_id}/events").json()["data"])


def assert_log_clean(live: LiveStack, job_id: str) -> None:
    report = verify(e for e in log_events(live.settings) if e.job_id == job_id)
    assert report.clean, report.findings


def test_a_crash_looping_worker_fails_the_job_worker_lost_in_bounded_time(
        crash_stack: LiveStack) -> None:
    watch = RunWatch(crash_stack)
    try:
        job_id = crash_stack.client.post("/v1/backtest/jobs", json=grid_config()).json()["id"]
        first = watch.next_start(job_id, lambda: False, timeout_s=60)
        assert first is not None
        started = time.monotonic()
        bound_s = HEARTBEAT_S * MAX_ATTEMPTS + 30  # + slack: liveness tick, rebalances
        runs = 0
        run: dict[str, Any] | None = first
        while run is not None:  # every run of the job is SIGKILLed as soon as it starts
            runs += 1
            kill_worker_of(crash_stack, run)
            run = watch.next_start(
                job_id, lambda: status_of(crash_stack, job_id)["status"] in TERMINAL,
                timeout_s=bound_s - (time.monotonic() - started))
        elapsed = time.monotonic() - started
    finally:
        watch.close()
    print(f"crash loop: {runs} runs killed, ended {elapsed:.1f}s after the first start")
    job = status_of(crash_stack, job_id)
    assert job["status"] == "failed", f"{job['status']} after {runs} runs and {elapsed:.0f}s"
    assert job["error"]["code"] == "WORKER_LOST", job["error"]
    types = [e["type"] for e in history_of(crash_stack, job_id)]
    assert types.count("JobStarted") <= MAX_ATTEMPTS, types  # every run spends an attempt
    assert types[-1] == "JobFailed"
    assert_log_clean(crash_stack, job_id)
    crash_stack.stack.wait_groups(timeout_s=120)  # the replaced workers are back for the next


def test_one_crash_then_the_redelivered_run_completes_without_a_requeue(
        crash_stack: LiveStack) -> None:
    watch = RunWatch(crash_stack)
    try:
        submitted = time.monotonic()
        job_id = crash_stack.client.post("/v1/backtest/jobs", json=grid_config()).json()["id"]
        first = watch.next_start(job_id, lambda: False, timeout_s=60)
        assert first is not None
        kill_worker_of(crash_stack, first)
        killed = time.monotonic()
    finally:
        watch.close()
    # redelivery (<= ~10 s session timeout + a rebalance) plus one paced run, no heartbeat wait
    job = crash_stack.wait_for(job_id, lambda j: j["status"] in TERMINAL,
                               timeout_s=HEARTBEAT_S * MAX_ATTEMPTS + 60)
    done = time.monotonic()
    print(f"single crash: done {done - killed:.1f}s after the kill, "
          f"{done - submitted:.1f}s after the submit")
    assert job["status"] == "done", job
    history = history_of(crash_stack, job_id)
    types = [e["type"] for e in history]
    assert "JobRequeued" not in types, types  # the redelivered run was adopted, not re-run
    assert types.count("JobStarted") == 2 and types[-1] == "JobSucceeded", types
    # today: redelivery + one run; a lost completion would add a heartbeat timeout + a run
    assert done - killed < ENGINE_SESSION_S + PACE_S + 15, "the redelivered run was not adopted"
    result = crash_stack.client.get(f"/v1/backtest/jobs/{job_id}/result")
    assert result.status_code == 200, result.text
    assert_log_clean(crash_stack, job_id)
