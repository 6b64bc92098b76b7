"""Create Job and Cancel over HTTP in-process: each outcome of the service as its answer
(201, 201 replayed, 202, 409, 503, 200), with the command bus faked (conftest.py)."""

from __future__ import annotations

import httpx
import orjson

from api.examples import BREAKOUT_CONFIG, GRID_CONFIG
from api.service import job_id_for_key
from tests.api.conftest import ApiHarness, ms

JOB = "/v1/backtest/jobs"


def create(h: ApiHarness, config: dict[str, object], key: str | None = None,
           **headers: str) -> httpx.Response:
    sent = {"Content-Type": "application/json", **headers}
    if key is not None:
        sent["Idempotency-Key"] = key
    return h.client.post(JOB, content=orjson.dumps(config), headers=sent)


def test_create_answers_201_with_the_queued_job(harness: ApiHarness) -> None:
    response = create(harness, GRID_CONFIG, **{"X-Request-Id": "req-1"})
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["status"] == "queued" and job["config"] == GRID_CONFIG
    assert "Idempotent-Replayed" not in response.headers
    events = harness.client.get(f"{JOB}/{job['id']}/events").json()["data"]
    assert events[0]["type"] == "JobAccepted" and events[0]["correlation_id"] == "req-1"


def test_a_retry_with_the_key_is_201_replayed_and_another_body_409(harness: ApiHarness) -> None:
    first = create(harness, GRID_CONFIG, key="k1")
    again = create(harness, GRID_CONFIG, key="k1")
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"] == job_id_for_key("alice", "k1")
    conflict = create(harness, BREAKOUT_CONFIG, key="k1")
    assert conflict.status_code == 409
    assert conflict.json() == {"error": {
        "code": "IDEMPOTENCY_CONFLICT",
        "message": "Idempotency-Key was already used with another request body"}}


def test_pending_is_202_with_the_jobs_location(harness: ApiHarness) -> None:
    harness.commands.mode = "pending"
    response = create(harness, GRID_CONFIG, key="k1")
    job_id = job_id_for_key("alice", "k1")
    assert response.status_code == 202
    assert response.json() == {"id": job_id, "status": "pending"}
    assert response.headers["Location"] == f"{JOB}/{job_id}"


def test_not_on_the_log_is_503_nothing_accepted(harness: ApiHarness) -> None:
    harness.commands.mode = "not_on_log"
    harness.jobs.accept("bt_q", "alice", GRID_CONFIG, ms("2026-01-01T00:00:00Z"))
    for response in (create(harness, GRID_CONFIG), harness.client.post(f"{JOB}/bt_q/cancel")):
        assert response.status_code == 503
        assert response.json() == {"error": {
            "code": "UNAVAILABLE",
            "message": "the event log is unavailable; nothing was accepted"}}


def test_cancel_answers_200_then_409_once_terminal(harness: ApiHarness) -> None:
    harness.jobs.accept("bt_q", "alice", GRID_CONFIG, ms("2026-01-01T00:00:00Z"))
    response = harness.client.post(f"{JOB}/bt_q/cancel", json={"reason": "superseded"})
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    again = harness.client.post(f"{JOB}/bt_q/cancel")
    assert again.status_code == 409
    assert again.json()["error"] == {"code": "INVALID_STATE",
                                     "message": "job bt_q is already cancelled"}
    assert len(harness.commands.sent) == 1
