"""A whole stack per test module on the session's real broker: orchestrator, engine
worker(s) and API as real processes, talking over real Kafka and real HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.stack import Stack, demo_key
from pipai.broker import LocalBroker
from pipai.client import PipaiAuth
from pipai.processes import free_port
from pipai.settings import Settings


@dataclass
class LiveStack:
    stack: Stack
    client: httpx.Client
    settings: Settings

    def wait_for(self, job_id: str, predicate: Callable[[dict[str, Any]], bool],
                 timeout_s: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        job: dict[str, Any] = {}
        while time.monotonic() < deadline:
            job = self.client.get(f"/v1/backtest/jobs/{job_id}").json()
            if predicate(job):
                return job
            time.sleep(0.1)  # poll interval; the deadline bounds the wait
        raise AssertionError(f"condition not met within {timeout_s}s; last seen: {job}")


def grid_config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "template_id": "tpl_grid",
        # a grid around the synthetic BTC path of early 2025 (about 88k-108k), so it trades
        "params": {"grid_levels": 10, "upper_price": "110000", "lower_price": "85000"},
        "symbols": ["BTCUSDT"],
        "timeframe": "1h",
        "start": "2025-01-01T00:00:00Z",
        "end": "2025-03-01T00:00:00Z",
        "capital": "10000.00",
        "leverage": 1,
        "fee_model": "fixed_bps",
        "fee_bps": "5",
    }
    config.update(overrides)
    return config


@pytest.fixture(scope="session")
def market_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("market")


def stack_settings(tmp: Path, bootstrap: str | None, market: Path, **overrides: Any) -> Settings:
    """Settings of a test stack: its own data dir, topic prefix and API port."""
    import uuid

    return Settings(
        data_dir=tmp, bootstrap_servers=bootstrap, topic_prefix=f"it.{uuid.uuid4().hex[:10]}",
        api_port=free_port(), market_dir_override=market, partitions=3,
    ).with_(**overrides)


def run_stack(settings: Settings) -> Iterator[LiveStack]:
    """Start the whole stack, wait until it is ready, yield it with a signing client."""
    stack = Stack(settings, log_dir=settings.data_dir / "logs")
    key = demo_key(settings)
    try:
        stack.start()
        stack.wait_api(key)
        stack.wait_groups()
        with httpx.Client(base_url=f"http://127.0.0.1:{settings.api_port}",
                          auth=PipaiAuth(key.api_key, key.secret), timeout=30) as client:
            yield LiveStack(stack, client, settings)
    finally:
        stack.stop()


def start_stack(tmp: Path, bootstrap: str, market: Path, **overrides: Any) -> Iterator[LiveStack]:
    yield from run_stack(stack_settings(tmp, bootstrap, market, **overrides))


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A broker of the test module's own, for tests that stop, stall or restart it."""
    broker = LocalBroker(tmp_path_factory.mktemp("kafka-own"), free_port(), free_port())
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def live(kafka_bootstrap: str, market_dir: Path,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    yield from start_stack(tmp_path_factory.mktemp("stack"), kafka_bootstrap, market_dir,
                           engine_min_job_seconds=3.0)
