"""Shared fixtures: one real Kafka broker per test session (KRaft, loopback).

The broker is the project's own (pipai.broker, jars from Maven Central), unless
KAFKA_BOOTSTRAP_SERVERS points at a cluster. Each test module gets a unique
topic prefix so tests never see each other's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipai.broker import LocalBroker
from pipai.processes import free_port


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    broker = LocalBroker(tmp_path_factory.mktemp("kafka"), free_port(), free_port())
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def topic_prefix() -> str:
    return f"test.{uuid.uuid4().hex[:10]}"


def shared_market_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic market data is deterministic: generate it once per session."""
    root = tmp_path_factory.getbasetemp() / "market"
    root.mkdir(exist_ok=True)
    return root
