"""Honest answers while a part is down, checked against the log, not the API's word:

- 503 UNAVAILABLE only for a command known not to be on the log: it never lands on
  `commands`, even after the broker is back;
- 202 pending for a command on the log but undecided in time: once the orchestrator is
  back it is decided exactly once (one JobAccepted / one terminal event on `events`);
- reads keep answering from the API's local projection.

This module runs its own broker (the session's one must not be stopped or stalled).
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobs.messages import (
    CancelJob,
    Event,
    JobAccepted,
    JobCancelled,
    JobFailed,
    JobSucceeded,
    SubmitJob,
    from_record,
)
from pipai.broker import LocalBroker
from pipai.kafka.reader import read_topic
from pipai.schema_log import kafka_codec
from pipai.settings import Settings
from pipai.topics import Topics
from projections.rebuild import log_events
from tests.integration.conftest import LiveStack, grid_config
from tests.integration.signed_stack import signed_settings, start_signed_stack

pytestmark = pytest.mark.integration
JOBS = "/v1/backtest/jobs"
COMMAND_TIMEOUT_S = 6.0
# 503 comes once the unsent command is purged from the producer's queue (about 1.2 s
# with this deadline, api/command_log.py); slack for a loaded machine.
BOUND_S = 6.0
# 202 comes at the command deadline, or a little after when delivery was in doubt.
PENDING_BOUND_S = COMMAND_TIMEOUT_S + 6.0
TERMINAL_EVENTS = (JobSucceeded, JobFailed, JobCancelled)


@pytest.fixture(scope="module")
def fragile(own_broker: LocalBroker, market_dir: Path,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    # Jobs run 20 s: long enough to be cancelled after a stall, short enough to finish.
    settings = signed_settings(tmp_path_factory.mktemp("fragile"), own_broker.bootstrap,
                               market_dir, engine_min_job_seconds=20.0,
                               command_timeout_s=COMMAND_TIMEOUT_S,
                               api_weight_per_minute=1_000_000)
    yield from start_signed_stack(settings)


@contextmanager
def stalled(pid: int) -> Iterator[None]:
    """SIGSTOP a process group for the block, SIGCONT after."""
    os.killpg(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(pid, signal.SIGCONT)


def concurrently(*calls: Callable[[], httpx.Response]) -> list[httpx.Response]:
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


def create(live: LiveStack, key: str | None = None) -> Callable[[], httpx.Response]:
    headers = {"Idempotency-Key": key} if key else {}
    return lambda: live.client.post(JOBS, json=grid_config(), headers=headers)


def status_is(*statuses: str) -> Callable[[dict[str, Any]], bool]:
    return lambda job: job.get("status") in statuses


def events_of(settings: Settings, job_id: str, kinds: tuple[type, ...]) -> list[Event]:
    return [e for e in log_events(settings, job_id) if isinstance(e, kinds)]


def commands_on_log(settings: Settings) -> list[SubmitJob | CancelJob]:
    codec = kafka_codec(settings, publish=False)
    topic = Topics.for_prefix(settings.topic_prefix).commands
    return [from_record(*codec.decode(msg.value())) for msg in read_topic(settings, topic)]


def assert_pending(response: httpx.Response) -> str:
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "pending"
    assert response.headers["Location"] == f"{JOBS}/{body['id']}"
    assert int(response.headers["X-PipAI-Used-Weight-1m"]) > 0
    return str(body["id"])


def test_orchestrator_stalled_commands_answer_202_and_are_decided_once(
        fragile: LiveStack) -> None:
    running = fragile.client.post(JOBS, json=grid_config()).json()
    fragile.wait_for(running["id"], status_is("running"))
    orchestrator = fragile.stack.children["orchestrator"]

    with stalled(orchestrator.pid):
        started = time.monotonic()
        plain, keyed, cancel = concurrently(
            create(fragile), create(fragile, f"stall-{uuid.uuid4().hex}"),
            lambda: fragile.client.post(f"{JOBS}/{running['id']}/cancel"))
        assert time.monotonic() - started < PENDING_BOUND_S
        created = [assert_pending(plain), assert_pending(keyed)]
        assert assert_pending(cancel) == running["id"]
        # Undecided: not a job yet.
        assert fragile.client.get(f"{JOBS}/{created[0]}").status_code == 404

    assert fragile.wait_for(running["id"], status_is("cancelled", "done", "failed"),
                            timeout_s=120)["status"] == "cancelled"
    for job_id in created:
        fragile.wait_for(job_id, status_is("done"), timeout_s=180)
    for job_id in created:
        assert len(events_of(fragile.settings, job_id, (JobAccepted,))) == 1
    for job_id in [*created, running["id"]]:
        assert len(events_of(fragile.settings, job_id, TERMINAL_EVENTS)) == 1
    assert len(events_of(fragile.settings, running["id"], (JobCancelled,))) == 1


def test_broker_stalled_503_never_lands_and_202_lands_once(
        fragile: LiveStack, own_broker: LocalBroker) -> None:
    assert fragile.client.post(JOBS, json=grid_config()).status_code == 201  # warm connection
    keys = [f"frozen-{uuid.uuid4().hex}-{n}" for n in range(4)]
    assert own_broker.process is not None
    with stalled(own_broker.process.pid):
        answers = dict(zip(keys, concurrently(*(create(fragile, k) for k in keys)), strict=True))
    for response in answers.values():
        assert response.status_code in (202, 503), response.text
    pending = [assert_pending(r) for r in answers.values() if r.status_code == 202]
    for job_id in pending:
        fragile.wait_for(job_id, status_is("done"), timeout_s=180)
    # The broker has been serving for a while now: a late in-flight write would be there.
    assert fragile.client.post(JOBS, json=grid_config()).status_code == 201

    submitted = [c.idempotency_key for c in commands_on_log(fragile.settings)
                 if isinstance(c, SubmitJob)]
    for key, response in answers.items():
        if response.status_code == 503:
            assert key not in submitted, f"answered 503 but on the log: {key}"
    for job_id in pending:
        assert len(events_of(fragile.settings, job_id, (JobAccepted,))) == 1


def test_commands_503_and_reads_work_without_the_broker(fragile: LiveStack,
                                                        own_broker: LocalBroker) -> None:
    job = fragile.client.post(JOBS, json=grid_config()).json()
    fragile.wait_for(job["id"], status_is("running"))
    known = {j["id"] for j in fragile.client.get(JOBS, params={"limit": 100}).json()["data"]}
    own_broker.stop()

    started = time.monotonic()
    created = fragile.client.post(JOBS, json=grid_config(), headers={"Idempotency-Key": "k-503"})
    assert time.monotonic() - started < BOUND_S
    assert created.status_code == 503, created.text
    assert created.json()["error"]["code"] == "UNAVAILABLE"

    started = time.monotonic()
    cancelled = fragile.client.post(f"{JOBS}/{job['id']}/cancel")
    assert time.monotonic() - started < BOUND_S
    assert cancelled.status_code == 503 and cancelled.json()["error"]["code"] == "UNAVAILABLE"

    read = fragile.client.get(f"{JOBS}/{job['id']}")
    assert read.status_code == 200 and read.json()["status"] == "running"
    listing = fragile.client.get(JOBS, params={"limit": 100}).json()
    # Nothing was half-accepted: the refused submit left no job behind.
    assert {j["id"] for j in listing["data"]} == known
    events = fragile.client.get(f"{JOBS}/{job['id']}/events")
    assert events.status_code == 200
    assert int(events.headers["X-PipAI-Used-Weight-1m"]) > 0

    # Back: neither refused command ever lands; the job runs to its end, uncancelled.
    own_broker.start()
    assert fragile.wait_for(job["id"], status_is("done", "cancelled", "failed"),
                            timeout_s=180)["status"] == "done"
    on_log = commands_on_log(fragile.settings)
    assert not [c for c in on_log if isinstance(c, SubmitJob) and c.idempotency_key == "k-503"]
    assert not [c for c in on_log if isinstance(c, CancelJob) and c.job_id == job["id"]]
