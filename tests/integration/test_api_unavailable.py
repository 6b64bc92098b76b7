"""Honest failures: with the broker gone, commands answer 503 UNAVAILABLE in bounded time
and reads keep answering from the API's local projection.

This module runs its own broker (the session's one must not be stopped).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipai.broker import LocalBroker
from tests.conftest import free_port
from tests.integration.conftest import LiveStack, grid_config
from tests.integration.signed_stack import signed_settings, start_signed_stack

pytestmark = pytest.mark.integration
JOBS = "/v1/backtest/jobs"
# Producer delivery timeout (5 s, api/commands.py) plus slack for a loaded machine.
BOUND_S = 9.0


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    broker = LocalBroker(tmp_path_factory.mktemp("kafka-own"), free_port(), free_port())
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def fragile(own_broker: LocalBroker, market_dir: Path,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    settings = signed_settings(tmp_path_factory.mktemp("fragile"), own_broker.bootstrap,
                               market_dir, engine_min_job_seconds=120.0)
    yield from start_signed_stack(settings)


def test_commands_503_and_reads_work_without_the_broker(fragile: LiveStack,
                                                        own_broker: LocalBroker) -> None:
    job = fragile.client.post(JOBS, json=grid_config()).json()
    fragile.wait_for(job["id"], lambda j: j["status"] == "running")
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
    listing = fragile.client.get(JOBS).json()
    assert job["id"] in [j["id"] for j in listing["data"]]
    # Nothing was half-accepted: the refused submit left no job behind.
    assert len(listing["data"]) == 1
    events = fragile.client.get(f"{JOBS}/{job['id']}/events")
    assert events.status_code == 200
    assert int(events.headers["X-PipAI-Used-Weight-1m"]) > 0
