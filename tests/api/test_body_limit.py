"""Request bodies are bounded before they are read (api/body_limit.py), in-process."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from api.body_limit import BodyLimit
from tests.api.conftest import ApiHarness

LIMIT = 1000
CHUNK = 100


def _scope(headers: list[tuple[bytes, bytes]]) -> Scope:
    return {"type": "http", "method": "POST", "path": "/v1/backtest/jobs", "headers": headers,
            "query_string": b""}


async def _echo_length(scope: Scope, receive: Receive, send: Send) -> None:
    """An app that reads the whole body, as the signature check does."""
    body = await Request(scope, receive).body()
    await JSONResponse({"read": len(body)})(scope, receive, send)


def _call(app: Any, scope: Scope, chunks: int) -> tuple[list[Message], int]:
    """Run `app` on a body of `chunks` chunks; the answer and how many chunks were pulled."""
    pulled = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": pulled < chunks}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent, pulled


def _status_and_body(sent: list[Message]) -> tuple[int, dict[str, Any]]:
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1, sent
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return starts[0]["status"], orjson.loads(body)


def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    called = False

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal called
        called = True

    sent, pulled = _call(BodyLimit(app, LIMIT), _scope([(b"content-length", b"200000000")]), 1)
    status, body = _status_and_body(sent)
    assert status == 413 and body["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert str(LIMIT) in body["error"]["message"]
    assert pulled == 0 and not called


def test_a_chunked_body_is_cut_off_at_the_limit() -> None:
    sent, pulled = _call(BodyLimit(_echo_length, LIMIT), _scope([]), chunks=2_000_000)
    status, body = _status_and_body(sent)
    assert status == 413 and body["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert pulled == LIMIT // CHUNK + 1  # stopped at the first chunk past the limit
    assert (b"connection", b"close") in sent[0]["headers"]


def test_a_body_at_the_limit_passes() -> None:
    sent, _ = _call(BodyLimit(_echo_length, LIMIT), _scope([]), chunks=LIMIT // CHUNK)
    assert _status_and_body(sent) == (200, {"read": LIMIT})


def test_the_app_answers_413_before_authentication(harness: ApiHarness) -> None:
    big = b"{" + b" " * (1024 * 1024) + b"}"
    response = harness.client.post("/v1/backtest/jobs", content=big,
                                   headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert "X-PipAI-Used-Weight-1m" not in response.headers  # nothing read, nothing spent


def test_a_framed_or_bodiless_http1_request_gets_the_servers_own_channels() -> None:
    seen: list[tuple[Receive, Send]] = []

    async def app(_scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((receive, send))

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_: Message) -> None:
        return None

    limit = BodyLimit(app, LIMIT)
    for headers, version in (([(b"content-length", b"10")], None), ([], "1.1")):
        asyncio.run(limit({**_scope(headers), "http_version": version}, receive, send))
    asyncio.run(limit({**_scope([(b"transfer-encoding", b"chunked")]), "http_version": "1.1"},
                      receive, send))
    assert seen[0] == seen[1] == (receive, send)
    assert seen[2][0] is not receive  # a chunked body is counted
