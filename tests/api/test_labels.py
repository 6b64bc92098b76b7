"""Names, tags and notes (PATCH, labels on create, the tag filter) and bulk cancel, with
the real decider behind the in-process command bus (tests/api/conftest.py)."""

from __future__ import annotations

import time
from typing import Any

from api.examples import BREAKOUT_CONFIG, GRID_CONFIG
from tests.api.conftest import ApiHarness

JOB = "/v1/backtest/jobs"
METRICS: dict[str, Any] = {
    "sharpe": "1.2", "sortino": "1.5", "calmar": "0.9", "max_drawdown": "-0.1",
    "win_rate": "0.6", "profit_factor": "1.8", "cagr": "0.2", "expected_value": "12.5",
    "total_trades": 10, "avg_trade_duration_seconds": 3600}


def create(h: ApiHarness, config: dict[str, Any], **labels: Any) -> str:
    answer = h.client.post(JOB, json={**config, **labels})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_labels_on_create_are_not_part_of_the_config(harness: ApiHarness) -> None:
    job_id = create(harness, GRID_CONFIG, name="BTC grid", tags=["btc", "grid", "btc"])
    job = harness.client.get(f"{JOB}/{job_id}").json()
    assert job["config"] == GRID_CONFIG  # the seed page's job object, unchanged
    assert harness.client.get(f"{JOB}/{job_id}/labels").json() == {
        "id": job_id, "name": "BTC grid", "tags": ["btc", "grid"], "notes": None}
    types = [e["type"] for e in harness.client.get(f"{JOB}/{job_id}/events").json()["data"]]
    assert types == ["JobAccepted", "JobAnnotated"]


def test_patch_keeps_absent_fields_clears_empty_ones_and_works_when_done(
    harness: ApiHarness,
) -> None:
    now = int(time.time() * 1000)
    harness.jobs.accept("bt_done", "alice", GRID_CONFIG, now - 3000)
    harness.jobs.start("bt_done", now - 2000)
    harness.jobs.succeed("bt_done", now - 1000, METRICS)
    first = harness.client.patch(f"{JOB}/bt_done", json={"name": "v1", "tags": ["q3"]})
    assert first.status_code == 200, first.text
    noted = harness.client.patch(f"{JOB}/bt_done", json={"notes": "too much turnover"}).json()
    assert noted == {"id": "bt_done", "name": "v1", "tags": ["q3"],
                     "notes": "too much turnover"}
    cleared = harness.client.patch(f"{JOB}/bt_done", json={"name": "", "tags": []}).json()
    assert cleared["name"] is None and cleared["tags"] == [] and cleared["notes"]
    assert harness.client.get(f"{JOB}/bt_done").json()["status"] == "done"


def test_patch_errors(harness: ApiHarness) -> None:
    job_id = create(harness, GRID_CONFIG)
    for body, words in (({}, "at least one"), ({"tags": ["no spaces"]}, "tags.0"),
                        ({"colour": "red"}, "colour"), ({"tags": ["t"] * 21}, "tags")):
        answer = harness.client.patch(f"{JOB}/{job_id}", json=body)
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["code"] == "INVALID_PARAMETER" and words in error["message"]
    missing = harness.client.patch(f"{JOB}/bt_nope", json={"name": "x"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"


def test_tag_filter_and_bulk_cancel(harness: ApiHarness) -> None:
    btc = [create(harness, GRID_CONFIG, tags=["sweep-1"]) for _ in range(3)]
    eth = create(harness, BREAKOUT_CONFIG, tags=["sweep-1"])
    other = create(harness, GRID_CONFIG, tags=["keep"])
    listed = harness.client.get(JOB, params={"tag": "sweep-1", "limit": 2}).json()
    assert len(listed["data"]) == 2 and listed["next_cursor"]
    rest = harness.client.get(JOB, params={"tag": "sweep-1",
                                           "cursor": listed["next_cursor"]}).json()
    assert {j["id"] for j in listed["data"] + rest["data"]} == {*btc, eth}
    grid_only = harness.client.get(JOB, params={"tag": "sweep-1", "template_id": "tpl_grid"})
    assert {j["id"] for j in grid_only.json()["data"]} == set(btc)
    assert harness.client.get(JOB, params={"tag": "bad tag!"}).status_code == 400

    answer = harness.client.post(f"{JOB}/cancel", params={"tag": "sweep-1",
                                                        "template_id": "tpl_grid"},
                                 json={"reason": "sweep superseded"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"matched": 3, "cancelled": 3, "remaining": False}
    statuses = {j: harness.client.get(f"{JOB}/{j}").json()["status"] for j in [*btc, eth, other]}
    assert statuses == {**dict.fromkeys(btc, "cancelled"), eth: "queued", other: "queued"}
    again = harness.client.post(f"{JOB}/cancel", params={"tag": "sweep-1"}).json()
    assert again == {"matched": 1, "cancelled": 1, "remaining": False}  # the terminal ones skipped
    assert harness.client.post(f"{JOB}/cancel", params={"status": "done"}).status_code == 400


def test_the_bulk_cancel_path_is_not_a_job_id(harness: ApiHarness) -> None:
    answer = harness.client.get(f"{JOB}/cancel")
    assert answer.status_code == 405 and answer.headers["Allow"] == "POST"
