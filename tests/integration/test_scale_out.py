"""Two orchestrator processes in one group share the partitions; one dies, the other takes over."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import ConsumerGroupState
from confluent_kafka.admin import AdminClient

from pipai.processes import kill
from pipai.topics import Groups
from tests.integration.conftest import LiveStack, grid_config, start_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pair(kafka_bootstrap: str, market_dir: Path,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    for live in start_stack(tmp_path_factory.mktemp("pair"), kafka_bootstrap, market_dir,
                            partitions=6, orchestrator_session_timeout_s=6.0,
                            command_timeout_s=60.0, api_weight_per_minute=1_000_000):
        # a second orchestrator with its own RocksDB folder joins the same group
        live.stack.start_process("orchestrator-b", "orchestrator", instance="b")
        deadline = time.monotonic() + 90
        while _members(live) < 2 or not _stable(live):
            assert time.monotonic() < deadline, "second orchestrator never joined"
            time.sleep(0.2)  # poll interval; the deadline bounds the wait
        yield live


def _group(live: LiveStack) -> Any:
    admin = AdminClient({"bootstrap.servers": live.settings.bootstrap, "log_level": 0})
    group = Groups.for_prefix(live.settings.topic_prefix).orchestrator
    return admin.describe_consumer_groups([group], request_timeout=10)[group].result()


def _members(live: LiveStack) -> int:
    return len(_group(live).members)


def _stable(live: LiveStack) -> bool:
    return bool(_group(live).state == ConsumerGroupState.STABLE)


def test_two_orchestrators_share_then_one_takes_over(pair: LiveStack) -> None:
    assert _members(pair) == 2
    assignments = [len(m.assignment.topic_partitions) for m in _group(pair).members]
    assert all(n > 0 for n in assignments), assignments  # both hold partitions
    first = [pair.client.post("/v1/backtest/jobs", json=grid_config()).json()["id"]
             for _ in range(12)]
    for job_id in first:
        pair.wait_for(job_id, lambda j: j["status"] == "done")

    kill(pair.stack.children["orchestrator"])
    # jobs submitted now are decided by the survivor once the group hands it every partition
    second = []
    for _ in range(12):
        response = pair.client.post("/v1/backtest/jobs", json=grid_config())
        assert response.status_code == 201, response.text
        second.append(response.json()["id"])
    for job_id in second:
        pair.wait_for(job_id, lambda j: j["status"] == "done", timeout_s=90)
    assert _members(pair) == 1
