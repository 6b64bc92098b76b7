"""Weights per key (docs/api.md, "Weights"): counted in a moving minute, reported on every
response."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from api.examples import GRID_CONFIG
from api.weights import WEIGHTS, MemoryWindow, SharedWindow, WeightLimiter
from tests.api.conftest import ApiHarness, make_harness

JOB = "/v1/backtest/jobs"
USED = "X-PipAI-Used-Weight-1m"


def test_design_weights() -> None:
    assert WEIGHTS == {"create_job": 10, "list_jobs": 5, "get_job": 1, "get_result": 10,
                       "cancel_job": 5, "cancel_jobs": 50, "label_job": 5, "job_labels": 1,
                       "job_events": 5, "job_trades": 10, "job_equity": 10,
                       "list_templates": 1, "create_sweep": 50, "list_sweeps": 5,
                       "get_sweep": 1, "cancel_sweep": 10, "sweep_leaderboard": 5,
                       "sweep_walk_forward": 10}


def test_each_endpoint_spends_its_weight(harness: ApiHarness) -> None:
    harness.jobs.accept("bt_w", "alice", GRID_CONFIG, int(time.time() * 1000))
    expected = 0
    for method, path, weight in (("GET", f"{JOB}/bt_w", 1), ("GET", JOB, 5),
                                 ("GET", f"{JOB}/bt_w/events", 5),
                                 ("GET", f"{JOB}/bt_w/result", 10),  # 409: spent all the same
                                 ("GET", "/v1/backtest/templates", 1),
                                 ("GET", f"{JOB}?limit=1000", 5)):  # 400: spent too
        response = harness.client.request(method, path)
        expected += weight
        assert response.headers[USED] == str(expected), (path, response.text)


def test_a_malformed_request_is_authenticated_first(harness: ApiHarness) -> None:
    unsigned = harness.client.get(f"{JOB}?limit=1000", auth=None)
    assert unsigned.status_code == 401 and USED not in unsigned.headers
    assert harness.client.get(f"{JOB}?limit=1000").status_code == 400


def test_weight_is_per_key(harness: ApiHarness) -> None:
    harness.client.get(JOB)
    other = harness.signed_client(harness.other)
    assert other.get(JOB).headers[USED] == "5"
    assert harness.client.get(JOB).headers[USED] == "10"


def test_failed_authentication_reports_but_does_not_spend(harness: ApiHarness) -> None:
    harness.client.get(JOB)
    forged = {"X-PipAI-API-Key": harness.key.api_key, "X-PipAI-Timestamp": "1",
              "X-PipAI-Signature": "0" * 64}
    response = harness.client.get(JOB, headers=forged, auth=None)
    assert response.status_code == 401 and response.headers[USED] == "5"


@pytest.fixture
def small_budget(tmp_path: Path) -> Iterator[ApiHarness]:
    yield from make_harness(tmp_path, api_weight_per_minute=12)


def test_over_budget_is_429_with_retry_after(small_budget: ApiHarness) -> None:
    client = small_budget.client
    assert client.get(JOB).headers[USED] == "5"
    assert client.get(JOB).headers[USED] == "10"
    refused = client.get(JOB)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers[USED] == "10"  # a refused request spends nothing
    assert client.get("/v1/backtest/templates").headers[USED] == "11"  # a lighter one fits


@pytest.mark.parametrize("make", [MemoryWindow, lambda budget: SharedWindow(budget, "memory://")])
def test_limiter_moving_window(make: Callable[[int], WeightLimiter]) -> None:
    limiter = make(20)
    assert limiter.charge("k", 10).allowed
    assert limiter.charge("k", 10).used == 20
    refused = limiter.charge("k", 1)
    assert not refused.allowed and refused.used == 20 and refused.retry_after_s >= 1
    assert not limiter.charge("k2", 21).allowed  # heavier than the whole budget
    assert limiter.used("k2") == 0


def test_header_on_unrouted_responses_of_a_known_key(harness: ApiHarness) -> None:
    harness.client.get(JOB)
    assert harness.client.get("/v1/nowhere").headers[USED] == "5"
    assert harness.client.delete(JOB).headers[USED] == "5"
    assert USED not in harness.client.get("/v1/nowhere", headers={"X-PipAI-API-Key": "pk_x"},
                                          auth=None).headers


def test_memory_window_expires_each_spend_after_sixty_seconds() -> None:
    now = [1000.0]
    limiter = MemoryWindow(20, clock=lambda: now[0])
    assert limiter.charge("k", 10).allowed
    now[0] += 30
    assert limiter.charge("k", 10).used == 20
    now[0] += 29.5
    refused = limiter.charge("k", 5)
    assert not refused.allowed and refused.used == 20 and refused.retry_after_s == 1
    now[0] += 0.5  # the first spend is 60 s old: out of the window
    assert limiter.charge("k", 5).used == 15
    assert not limiter.charge("k", 6).allowed  # 15 + 6 > 20
    now[0] += 30  # the second spend expires too
    assert limiter.used("k") == 5


def test_memory_window_forgets_idle_keys() -> None:
    now = [0.0]
    limiter = MemoryWindow(20, clock=lambda: now[0])
    for i in range(100):
        limiter.charge(f"k{i}", 1)
    now[0] += 61
    limiter.charge("fresh", 1)  # the once-a-minute sweep runs first
    assert set(limiter._spends) == {"fresh"}


def test_every_signed_route_has_a_weight_under_its_name() -> None:
    """api/errors.py's validation handler finds a route's weight by the route's name."""
    from fastapi.routing import APIRoute

    from api.routers import jobs, result_pages, sweeps, templates

    names = {r.name for router in (jobs.router, result_pages.router, templates.router,
                                   sweeps.router)
             for r in router.routes
             if isinstance(r, APIRoute)}
    assert names == set(WEIGHTS)
