"""The SDK's retries against a scripted transport (pure client logic, no server): which
answers are retried, with what waits, and that a create keeps one Idempotency-Key."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from api.examples import GRID_CONFIG
from pipai import client as sdk

JOB = {"id": "bt_1", "status": "queued"}
Reply = httpx.Response | Exception


def unavailable() -> httpx.Response:
    return httpx.Response(503, json={"error": {"code": "UNAVAILABLE", "message": "down"}})


def pending(job_id: str = "bt_1") -> httpx.Response:
    return httpx.Response(202, json={"id": job_id, "status": "pending"})


class Script:
    """Answers requests with the given replies in order; records what was sent."""

    def __init__(self, *replies: Reply | Callable[[httpx.Request], Reply]) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []
        self.waits: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0)
        if callable(reply) and not isinstance(reply, httpx.Response):
            reply = reply(request)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def client(self, attempts: int = 5) -> sdk.Client:
        return sdk.Client("http://api.test", "pk_test", "secret",
                          transport=httpx.MockTransport(self), sleep=self.waits.append,
                          retry=sdk.RetryPolicy(attempts=attempts, base_delay_s=0.5,
                                                max_delay_s=4.0))

    def keys(self) -> list[str | None]:
        return [r.headers.get("Idempotency-Key") for r in self.requests]


def test_create_sends_a_generated_key_and_reuses_it_on_every_retry() -> None:
    script = Script(unavailable(), httpx.ConnectError("refused"),
                    httpx.ReadTimeout("no answer"), pending(), httpx.Response(201, json=JOB))
    assert script.client().create_job(GRID_CONFIG) == JOB
    keys = script.keys()
    assert len(keys) == 5 and keys[0] and len(set(keys)) == 1
    # each retry re-signed: a fresh timestamp, so the server never sees a replay
    stamps = [r.headers["X-PipAI-Timestamp"] for r in script.requests]
    assert len(set(stamps)) == 5
    # exponential backoff with full jitter: retry n waits at most base * 2**n (capped)
    assert len(script.waits) == 4
    assert all(0 <= w <= min(4.0, 0.5 * 2 ** n) for n, w in enumerate(script.waits))


def test_each_logical_create_gets_its_own_key() -> None:
    script = Script(httpx.Response(201, json=JOB), httpx.Response(201, json=JOB))
    api = script.client()
    api.create_job(GRID_CONFIG)
    api.create_job(GRID_CONFIG)
    assert len(set(script.keys())) == 2


def test_a_given_key_is_sent_as_is() -> None:
    script = Script(unavailable(), httpx.Response(201, json=JOB))
    script.client().create_job(GRID_CONFIG, idempotency_key="sweep-42")
    assert script.keys() == ["sweep-42", "sweep-42"]


def test_retries_are_bounded() -> None:
    script = Script(*(unavailable() for _ in range(3)))
    with pytest.raises(sdk.Unavailable):
        script.client(attempts=3).create_job(GRID_CONFIG)
    assert len(script.requests) == 3
    script = Script(*(httpx.ConnectError("refused") for _ in range(3)))
    with pytest.raises(sdk.Unreachable):
        script.client(attempts=3).get_job("bt_1")
    assert len(script.requests) == 3


def test_still_pending_after_the_retries_names_the_job() -> None:
    script = Script(pending("bt_9"), pending("bt_9"))
    with pytest.raises(sdk.Pending) as err:
        script.client(attempts=2).create_job(GRID_CONFIG)
    assert err.value.job_id == "bt_9" and err.value.code == "PENDING"


def test_client_errors_are_not_retried() -> None:
    script = Script(httpx.Response(400, json={"error": {"code": "INVALID_PARAMETER",
                                                        "message": "capital: bad"}}))
    with pytest.raises(sdk.InvalidParameter):
        script.client().create_job(GRID_CONFIG)
    assert len(script.requests) == 1


def test_429_waits_its_retry_after() -> None:
    limited = httpx.Response(429, headers={"Retry-After": "3"},
                             json={"error": {"code": "RATE_LIMITED", "message": "slow"}})
    script = Script(limited, httpx.Response(200, json=JOB))
    assert script.client().get_job("bt_1") == JOB
    assert script.waits[0] >= 3.0
    too_long = httpx.Response(429, headers={"Retry-After": "3600"},
                              json={"error": {"code": "RATE_LIMITED", "message": "slow"}})
    script = Script(too_long)
    with pytest.raises(sdk.RateLimited):
        script.client().get_job("bt_1")
    assert len(script.requests) == 1


def test_reads_retry_503_and_connection_errors() -> None:
    script = Script(httpx.ConnectError("refused"), unavailable(),
                    httpx.Response(200, json={"data": [], "next_cursor": None}))
    assert script.client().list_jobs() == {"data": [], "next_cursor": None}
    assert len(script.requests) == 3


def test_cancel_is_resent_only_when_it_never_reached_the_server() -> None:
    cancelled = {**JOB, "status": "cancelled"}
    script = Script(httpx.ConnectError("refused"), unavailable(),
                    httpx.Response(200, json=cancelled))
    assert script.client().cancel_job("bt_1") == cancelled
    script = Script(httpx.ReadTimeout("no answer"))
    with pytest.raises(sdk.Unreachable):
        script.client().cancel_job("bt_1")
    assert len(script.requests) == 1


def test_a_pending_cancel_is_followed_until_the_job_ends() -> None:
    script = Script(pending(), httpx.Response(200, json={**JOB, "status": "running"}),
                    httpx.Response(200, json={**JOB, "status": "cancelled"}))
    assert script.client().cancel_job("bt_1")["status"] == "cancelled"
    assert [r.method for r in script.requests] == ["POST", "GET", "GET"]
