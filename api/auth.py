"""Who is calling, and may they: signed requests and weights as one dependency.

`Verifier.verify(request, weight)` checks the request's signature (pipai/signing.py)
and spends `weight` of the key's budget (api/weights.py); routes reach it through
api/deps.py's `signed_caller`. Order of checks, and the code each failure
gives (all 401 but RATE_LIMITED):

1. `X-PipAI-API-Key` missing, unknown or revoked; timestamp or signature header
   missing or malformed: UNAUTHORIZED.
2. Signature does not match: INVALID_SIGNATURE. Checked before the clock, so
   only an authentic request learns that its clock is off.
3. Timestamp older than the receive window or > 1 s ahead: TIMESTAMP_OUT_OF_WINDOW.
4. Timestamp earlier than this instance's start plus the future allowance:
   UNAVAILABLE (503, Retry-After: 1). The replay store lives in memory, so a
   request signed before a restart could otherwise be replayed into the new
   process; no request the old process accepted can pass this bound.
5. Signature already used inside the window (a replay): INVALID_SIGNATURE.
6. Over budget: RATE_LIMITED (429, Retry-After); a refused request spends nothing.

Once the key is known, the used weight goes on the response whatever happens.
Nothing here logs a secret or a signature.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from fastapi import Request
from starlette.types import Scope

from api.errors import ApiError
from api.weights import STATE_KEY, WeightLimiter
from pipai import signing
from pipai.keys import KeyStore


@dataclass(frozen=True)
class Caller:
    api_key: str
    owner: str


@dataclass
class Verifier:
    keys: KeyStore
    limiter: WeightLimiter
    replays: signing.ReplayGuard
    window_ms: int = signing.DEFAULT_WINDOW_MS
    # Signed timestamps below this are refused (set by `started`; 0 until the server starts).
    not_before_ms: int = 0

    def started(self, now_ms: int) -> None:
        """Called once at server start: the old process may have accepted any timestamp up
        to its last moment plus the future allowance, and its replay store is gone."""
        self.not_before_ms = signing.restart_bound(now_ms)

    async def verify(self, request: Request, weight: int) -> Caller:
        signed = _signing_headers(request.scope)
        if not signed.api_key:
            raise ApiError("UNAUTHORIZED", f"missing {signing.API_KEY_HEADER}")
        key = self.keys.get(signed.api_key)
        if key is None:
            raise ApiError("UNAUTHORIZED", "unknown or revoked API key")
        try:
            body = await request.body() if signed.has_body else b""
            self._check(request, signed, key.secret, body)
        except ApiError:
            setattr(request.state, STATE_KEY, self.limiter.used(key.api_key))
            raise
        charge = self.limiter.charge(key.api_key, weight)
        setattr(request.state, STATE_KEY, charge.used)
        if not charge.allowed:
            raise ApiError("RATE_LIMITED",
                           f"weight budget of {self.limiter.budget} per minute exhausted",
                           headers={"Retry-After": str(charge.retry_after_s)})
        return Caller(api_key=key.api_key, owner=key.owner)

    def _check(self, request: Request, signed: SigningHeaders, secret: str,
               body: bytes) -> None:
        raw_ts, signature = signed.timestamp, signed.signature
        if not raw_ts or not signature:
            raise ApiError("UNAUTHORIZED", f"signed requests need {signing.TIMESTAMP_HEADER} "
                           f"and {signing.SIGNATURE_HEADER}")
        timestamp = signing.parse_timestamp(raw_ts)
        if timestamp is None:
            raise ApiError("UNAUTHORIZED", f"{signing.TIMESTAMP_HEADER} must be Unix milliseconds")
        if not signing.signature_matches(secret, signature, raw_ts, request.method,
                                         _target(request), body):
            raise ApiError("INVALID_SIGNATURE", "signature does not match the request")
        now = int(time.time() * 1000)
        if not signing.timestamp_in_window(timestamp, now, self.window_ms):
            raise ApiError("TIMESTAMP_OUT_OF_WINDOW",
                           f"timestamp must be within {self.window_ms} ms before and "
                           f"{signing.MAX_FUTURE_MS} ms after the server time ({now})")
        if timestamp < self.not_before_ms:
            raise ApiError("UNAVAILABLE",
                           f"this API instance accepts requests signed at or after "
                           f"{self.not_before_ms} (its start plus {signing.MAX_FUTURE_MS} ms; "
                           "replay protection across restarts): sign again and retry",
                           headers={"Retry-After": "1"})
        if not self.replays.first_use(signature, timestamp + self.window_ms, now):
            raise ApiError("INVALID_SIGNATURE", "request already used (replayed signature)")


@dataclass
class SigningHeaders:
    api_key: str | None = None
    timestamp: str | None = None
    signature: str | None = None
    # HTTP/1.1 frames a body by Content-Length or Transfer-Encoding (RFC 9112, 6.3): without
    # either it is empty, and reading it would still go through every middleware's receive.
    has_body: bool = False


_NAMES = {signing.API_KEY_HEADER.lower().encode(): "api_key",
          signing.TIMESTAMP_HEADER.lower().encode(): "timestamp",
          signing.SIGNATURE_HEADER.lower().encode(): "signature"}


def _signing_headers(scope: Scope) -> SigningHeaders:
    """The signing headers in one pass over the ASGI headers (names come lowercased;
    the first of a repeated header counts, as Starlette's `headers.get` does)."""
    found = SigningHeaders()
    for name, value in scope["headers"]:
        field = _NAMES.get(name)
        if field is not None:
            if getattr(found, field) is None:
                setattr(found, field, value.decode("latin-1"))
        elif name == b"content-length":
            found.has_body = found.has_body or value.strip() not in (b"", b"0")
        elif name == b"transfer-encoding":
            found.has_body = True
    return found


def _target(request: Request) -> bytes:
    """Path and query exactly as sent, percent-encoding kept."""
    scope = request.scope
    path: bytes = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope.get("query_string", b"")
    return path + b"?" + query if query else path
