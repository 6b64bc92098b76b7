"""GET /v1/health in-process: unsigned, 503 naming what is down, one probe per second.

The broker-down case is real (nothing listens on the port); the cached and all-up cases
count the probes of a stub cluster (the endpoint's own logic, not Kafka's).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from fastapi.testclient import TestClient

from api import health_check
from api.app import create_app
from api.health_check import CachedHealth, HealthChecker
from api.models import Health
from pipai.health import ClusterHealth
from pipai.processes import free_port
from pipai.settings import Settings

HEALTH = "/v1/health"


def test_unsigned_and_names_the_broker_when_it_is_down(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, bootstrap_servers=f"127.0.0.1:{free_port()}")
    client = TestClient(create_app(settings))  # no lifespan: no projection either
    response = client.get(HEALTH)  # no signing headers at all
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "components": {
        "broker": {"state": "down"}, "orchestrator": {"state": "unknown"},
        "engine": {"state": "unknown"}, "view": {"state": "down"}}}


class CountingProbe:
    def __init__(self, engine_members: int) -> None:
        self.calls = 0
        self.engine_members = engine_members
        self.lock = threading.Lock()

    def probe(self, view_offsets: dict[str, dict[int, int]] | None = None) -> ClusterHealth:
        with self.lock:
            self.calls += 1
        members = self.engine_members
        return ClusterHealth({
            "broker": {"state": "up", "brokers": 1},
            "orchestrator": {"state": "up", "members": 2},
            "engine": {"state": "up" if members else "down", "members": members},
        }, view_lag=3 if view_offsets is not None else None)


def client_with(tmp_path: Path, probe: CountingProbe) -> TestClient:
    settings = Settings(data_dir=tmp_path)
    app = create_app(settings)
    ready_view = SimpleNamespace(offsets=lambda topic: {0: 5})
    app.state.projection = SimpleNamespace(settings=settings, view=ready_view,
                                           caught_up=True)
    checker = HealthChecker(settings)
    checker.probe = probe  # type: ignore[assignment]
    app.state.health_checker = checker
    return TestClient(app)


def test_all_up_is_200_with_every_component(tmp_path: Path) -> None:
    response = client_with(tmp_path, CountingProbe(engine_members=1)).get(HEALTH)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "components": {
        "broker": {"state": "up", "brokers": 1},
        "orchestrator": {"state": "up", "members": 2},
        "engine": {"state": "up", "members": 1},
        "view": {"state": "up", "lag": 3}}}


def test_a_group_without_members_is_503_naming_it(tmp_path: Path) -> None:
    body: dict[str, Any] = client_with(tmp_path, CountingProbe(engine_members=0)).get(
        HEALTH).json()
    assert body["status"] == "unavailable"
    assert {c: v["state"] for c, v in body["components"].items()} == {
        "broker": "up", "orchestrator": "up", "engine": "down", "view": "up"}


def test_concurrent_requests_share_one_probe_then_it_expires(monkeypatch: Any) -> None:
    calls = 0

    async def compute() -> Health:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)  # a probe in flight while the others arrive
        return Health(status="ok", components={})

    async def scenario() -> list[Health]:
        cache = CachedHealth()
        answers = await asyncio.gather(*(cache.get(compute) for _ in range(20)))
        monkeypatch.setattr(health_check, "CACHE_TTL_S", 0.0)
        await cache.get(compute)  # expired: probed again
        return list(answers)

    answers = asyncio.run(scenario())
    assert all(a is answers[0] for a in answers)
    assert calls == 2
