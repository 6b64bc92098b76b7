"""Signed requests in-process: each way a request can fail authentication has its code."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import pytest

from api.examples import GRID_CONFIG
from pipai.signing import sign
from tests.api.conftest import ApiHarness

JOB = "/v1/backtest/jobs"


def now_ms() -> int:
    return int(time.time() * 1000)


def signed_headers(key: Any, method: str, target: str, body: bytes = b"",
                   timestamp: int | None = None) -> dict[str, str]:
    ts = str(now_ms() if timestamp is None else timestamp)
    return {"X-PipAI-API-Key": key.api_key, "X-PipAI-Timestamp": ts,
            "X-PipAI-Signature": sign(key.secret, ts, method, target, body)}


def raw(h: ApiHarness, method: str, target: str, headers: dict[str, str],
        body: bytes = b"") -> httpx.Response:
    """A request sent as-is (no auth hook), so tests control every byte."""
    return h.client.request(method, target, headers=headers, content=body, auth=None)


def code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


@pytest.fixture
def job(harness: ApiHarness) -> str:
    harness.jobs.accept("bt_alice1", "alice", GRID_CONFIG, now_ms())
    return "bt_alice1"


def test_a_signed_request_is_accepted(harness: ApiHarness, job: str) -> None:
    headers = signed_headers(harness.key, "GET", f"{JOB}/{job}")
    response = raw(harness, "GET", f"{JOB}/{job}", headers)
    assert response.status_code == 200, response.text
    assert response.headers["X-PipAI-Used-Weight-1m"] == "1"


def test_the_same_request_replayed_is_refused(harness: ApiHarness, job: str) -> None:
    headers = signed_headers(harness.key, "GET", f"{JOB}/{job}")
    assert raw(harness, "GET", f"{JOB}/{job}", headers).status_code == 200
    replay = raw(harness, "GET", f"{JOB}/{job}", headers)
    assert replay.status_code == 401 and code(replay) == "INVALID_SIGNATURE"
    assert "replayed" in replay.json()["error"]["message"]


def test_wrong_signature(harness: ApiHarness, job: str) -> None:
    headers = signed_headers(harness.key, "GET", f"{JOB}/{job}")
    headers["X-PipAI-Signature"] = "0" * 64
    response = raw(harness, "GET", f"{JOB}/{job}", headers)
    assert response.status_code == 401 and code(response) == "INVALID_SIGNATURE"


def test_signature_made_with_another_secret(harness: ApiHarness, job: str) -> None:
    headers = signed_headers(harness.other, "GET", f"{JOB}/{job}")
    headers["X-PipAI-API-Key"] = harness.key.api_key
    assert code(raw(harness, "GET", f"{JOB}/{job}", headers)) == "INVALID_SIGNATURE"


def test_changed_body(harness: ApiHarness, job: str) -> None:
    target = f"{JOB}/{job}/cancel"
    headers = signed_headers(harness.key, "POST", target, b'{"reason":"a"}')
    response = raw(harness, "POST", target, headers, b'{"reason":"b"}')
    assert response.status_code == 401 and code(response) == "INVALID_SIGNATURE"


def test_malformed_body_of_an_unauthenticated_request_is_401_not_400(harness: ApiHarness) -> None:
    headers = signed_headers(harness.key, "POST", JOB, b"{}")
    response = raw(harness, "POST", JOB, {**headers, "Content-Type": "application/json"},
                   b"{not json")
    assert response.status_code == 401 and code(response) == "INVALID_SIGNATURE"


def test_changed_query(harness: ApiHarness) -> None:
    headers = signed_headers(harness.key, "GET", f"{JOB}?limit=10")
    response = raw(harness, "GET", f"{JOB}?limit=100", headers)
    assert response.status_code == 401 and code(response) == "INVALID_SIGNATURE"


def test_changed_method(harness: ApiHarness, job: str) -> None:
    headers = signed_headers(harness.key, "GET", f"{JOB}/{job}/cancel")
    assert code(raw(harness, "POST", f"{JOB}/{job}/cancel", headers)) == "INVALID_SIGNATURE"


@pytest.mark.parametrize("offset_ms", [-5_500, -60_000, 1_500, 3_600_000])
def test_timestamp_outside_window(harness: ApiHarness, job: str, offset_ms: int) -> None:
    headers = signed_headers(harness.key, "GET", f"{JOB}/{job}", timestamp=now_ms() + offset_ms)
    response = raw(harness, "GET", f"{JOB}/{job}", headers)
    assert response.status_code == 401 and code(response) == "TIMESTAMP_OUT_OF_WINDOW"


def test_timestamp_slightly_ahead_is_accepted(harness: ApiHarness, job: str) -> None:
    headers = signed_headers(harness.key, "GET", f"{JOB}/{job}", timestamp=now_ms() + 500)
    assert raw(harness, "GET", f"{JOB}/{job}", headers).status_code == 200


@pytest.mark.parametrize("missing", ["X-PipAI-API-Key", "X-PipAI-Timestamp", "X-PipAI-Signature"])
def test_missing_header(harness: ApiHarness, job: str, missing: str) -> None:
    headers = signed_headers(harness.key, "GET", f"{JOB}/{job}")
    del headers[missing]
    response = raw(harness, "GET", f"{JOB}/{job}", headers)
    assert response.status_code == 401 and code(response) == "UNAUTHORIZED"


def test_malformed_timestamp(harness: ApiHarness, job: str) -> None:
    headers = signed_headers(harness.key, "GET", f"{JOB}/{job}")
    headers["X-PipAI-Timestamp"] = "yesterday"
    assert code(raw(harness, "GET", f"{JOB}/{job}", headers)) == "UNAUTHORIZED"


def test_unknown_key(harness: ApiHarness, job: str) -> None:
    headers = signed_headers(harness.key, "GET", f"{JOB}/{job}")
    headers["X-PipAI-API-Key"] = "pk_unknown"
    response = raw(harness, "GET", f"{JOB}/{job}", headers)
    assert response.status_code == 401 and code(response) == "UNAUTHORIZED"
    assert "X-PipAI-Used-Weight-1m" not in response.headers  # no key known, nothing to report


def test_revoked_key(harness: ApiHarness, job: str) -> None:
    assert harness.client.get(f"{JOB}/{job}").status_code == 200
    harness.keys.revoke(harness.key.api_key)
    response = harness.client.get(f"{JOB}/{job}")
    assert response.status_code == 401 and code(response) == "UNAUTHORIZED"


def test_another_owners_job_is_not_found_on_every_endpoint(harness: ApiHarness, job: str) -> None:
    mallory = harness.signed_client(harness.other)
    for method, path in (("GET", f"{JOB}/{job}"), ("GET", f"{JOB}/{job}/result"),
                         ("GET", f"{JOB}/{job}/events"), ("GET", f"{JOB}/{job}/events?stream=true"),
                         ("POST", f"{JOB}/{job}/cancel")):
        response = mallory.request(method, path)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json() == {"error": {"code": "NOT_FOUND",
                                             "message": f"job {job} not found"}}
    assert mallory.get(JOB).json() == {"data": [], "next_cursor": None}
    assert harness.client.get(f"{JOB}/{job}").status_code == 200


def test_percent_encoded_path_is_signed_as_sent(harness: ApiHarness) -> None:
    response = harness.client.get(f"{JOB}/bt%20x")
    assert response.status_code == 404 and code(response) == "NOT_FOUND"


def test_secrets_and_signatures_never_reach_the_logs(
        harness: ApiHarness, job: str, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    headers = signed_headers(harness.key, "GET", f"{JOB}/{job}")
    raw(harness, "GET", f"{JOB}/{job}", headers)
    raw(harness, "GET", f"{JOB}/{job}", headers)  # replay
    raw(harness, "GET", f"{JOB}/{job}", {**headers, "X-PipAI-Signature": "f" * 64})
    harness.client.post(JOB, content=b"{not json", headers={"Content-Type": "application/json"})
    out = capsys.readouterr()
    logged = caplog.text + out.out + out.err
    for secret in (harness.key.secret, harness.other.secret, headers["X-PipAI-Signature"]):
        assert secret not in logged
    assert harness.key.secret not in repr(harness.client.auth)


def test_requests_signed_before_the_server_started_are_refused(harness: ApiHarness,
                                                                job: str) -> None:
    """The replay store does not survive a restart, so a fresh server refuses every timestamp
    the old process could have accepted: up to its start plus the future allowance."""
    started = now_ms()
    harness.app.state.verifier.started(started)
    target = f"{JOB}/{job}"
    for ts in (started - 2_000, started, started + 999):  # could have been seen before
        response = raw(harness, "GET", target, signed_headers(harness.key, "GET", target,
                                                              timestamp=ts))
        assert response.status_code == 503, (ts, response.text)
        assert code(response) == "UNAVAILABLE" and response.headers["Retry-After"] == "1"
    fresh = signed_headers(harness.key, "GET", target, timestamp=started + 1_000)
    assert raw(harness, "GET", target, fresh).status_code == 200
    assert code(raw(harness, "GET", target, fresh)) == "INVALID_SIGNATURE"  # then a replay
