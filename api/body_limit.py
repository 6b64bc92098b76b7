"""Request bodies are bounded before anyone reads them (docs/api.md, *Request size*).

Signature checking needs the whole body, so without a bound anyone who knows
only a key id could make the API hold an arbitrarily large body in memory. This
pure-ASGI middleware sits outside everything else:

- a `Content-Length` above the limit is answered 413 PAYLOAD_TOO_LARGE at once,
  without reading a byte of the body;
- a body without one (chunked) is counted as it streams in; the moment it passes
  the limit, reading stops and the answer is 413, whatever the app was doing.

Either way the connection is closed after the answer (the rest of the body is
never read), and at most `limit` bytes plus one network chunk were buffered.
"""

from __future__ import annotations

import contextlib

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import STATUS_OF

CODE = "PAYLOAD_TOO_LARGE"
HTTP_1 = ("1.0", "1.1")


class BodyTooLarge(Exception):
    """Raised from `receive` once the streamed body passes the limit."""


def _framing(scope: Scope) -> tuple[int | None, bool]:
    """The declared Content-Length (None if absent or malformed: the server refuses a
    malformed length before we run) and whether a Transfer-Encoding is declared (it
    overrides any length, RFC 9112 6.3: counted)."""
    declared, chunked = None, False
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            with contextlib.suppress(ValueError):
                declared = int(value)
        elif name == b"transfer-encoding":
            chunked = True
    return declared, chunked


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, chunked = _framing(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send)
            return
        if not chunked and (declared is not None or scope.get("http_version") in HTTP_1):
            # Framed by a Content-Length within the limit (the server delivers exactly that
            # many bytes), or HTTP/1 without Transfer-Encoding: no body at all (RFC 9112,
            # 6.3). Nothing to count: the app gets the server's own receive and send.
            await self.app(scope, receive, send)
            return

        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # whatever the app makes of the interrupted body, the answer is 413
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with contextlib.suppress(BodyTooLarge):
            await self.app(scope, counting_receive, guarded_send)
        if exceeded:
            if started:  # a streaming response was under way: nothing sane left to send
                raise BodyTooLarge
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = orjson.dumps({"error": {
            "code": CODE,
            "message": f"request body larger than {self.max_bytes} bytes "
                       "(PIPAI_API_MAX_BODY_BYTES)"}})
        await send({"type": "http.response.start", "status": STATUS_OF[CODE], "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]})
        await send({"type": "http.response.body", "body": body})
