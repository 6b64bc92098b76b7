"""Weights per key (docs/api.md, "Weights"): counted in a moving minute, reported on every
response."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.examples import GRID_CONFIG
from api.weights import WEIGHTS, WeightLimiter
from tests.api.conftest import ApiHarness, make_harness

JOB = "/v1/backtest/jobs"
USED = "X-PipAI-Used-Weight-1m"


def test_design_weights() -> None:
    assert WEIGHTS == {"create_job": 10, "list_jobs": 5, "get_job": 1, "get_result": 10,
                       "cancel_job": 5, "job_events": 5, "list_templates": 1}


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


def test_limiter_moving_window() -> None:
    limiter = WeightLimiter(budget_per_minute=20)
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
