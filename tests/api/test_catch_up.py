"""Until the view has caught up with the event log, it is not served (503, not 404/empty)."""

from __future__ import annotations

import pytest

from api.examples import GRID_CONFIG
from projections.runner import lagging
from tests.api.conftest import ApiHarness, ms

JOB = "/v1/backtest/jobs"


@pytest.mark.parametrize("path", [JOB, f"{JOB}/bt_a", f"{JOB}/bt_a/events", f"{JOB}/bt_a/result",
                                  f"{JOB}/bt_missing"])
def test_reads_are_unavailable_while_catching_up(harness: ApiHarness, path: str) -> None:
    harness.jobs.accept("bt_a", "alice", GRID_CONFIG, ms("2026-01-01T00:00:00Z"))
    harness.app.state.projection.caught_up = False
    response = harness.client.get(path)
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "UNAVAILABLE"
    assert response.headers["Retry-After"] == "1"
    harness.app.state.projection.caught_up = True
    assert harness.client.get(f"{JOB}/bt_a").json()["id"] == "bt_a"


def test_templates_need_no_view(harness: ApiHarness) -> None:
    harness.app.state.projection.caught_up = False
    assert harness.client.get("/v1/backtest/templates").status_code == 200


def test_lagging_partitions() -> None:
    targets = {0: 10, 1: 0, 2: 5}
    assert lagging(targets, {}) == {0: 10, 2: 5}
    assert lagging(targets, {0: 10, 2: 4}) == {2: 1}
    assert lagging(targets, {0: 12, 2: 5}) == {}  # past the start's end: caught up
