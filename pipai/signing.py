"""Request signing (docs/api.md, "Signed requests"), pure: no FastAPI, no clock of its own, no I/O.

A signed request carries `X-PipAI-API-Key`, `X-PipAI-Timestamp` (Unix ms) and
`X-PipAI-Signature`, the lowercase hex HMAC-SHA256, keyed with the UTF-8 bytes
of the key's secret, of `timestamp + METHOD + path_with_query + body`, where
`path_with_query` is the request target exactly as sent (percent-encoding
kept, `?query` only when there is one) and `body` the raw body bytes (empty for
none). The server accepts a timestamp at most `window_ms` old and at most
`MAX_FUTURE_MS` ahead of its clock, and each signature once (`ReplayGuard`).
Both the server (api/auth.py) and the SDK (pipai/client.py) use this module.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections import OrderedDict

API_KEY_HEADER = "X-PipAI-API-Key"
TIMESTAMP_HEADER = "X-PipAI-Timestamp"
SIGNATURE_HEADER = "X-PipAI-Signature"
DEFAULT_WINDOW_MS = 5000
MAX_FUTURE_MS = 1000


def string_to_sign(timestamp: str, method: str, path_with_query: str | bytes,
                   body: bytes) -> bytes:
    path = path_with_query if isinstance(path_with_query, bytes) else path_with_query.encode()
    return timestamp.encode() + method.upper().encode() + path + body


def sign(secret: str, timestamp: str, method: str, path_with_query: str | bytes,
         body: bytes = b"") -> str:
    message = string_to_sign(timestamp, method, path_with_query, body)
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_matches(secret: str, signature: str, timestamp: str, method: str,
                      path_with_query: str | bytes, body: bytes) -> bool:
    expected = sign(secret, timestamp, method, path_with_query, body)
    # Constant-time, so the comparison leaks nothing about how much of a guess was right.
    return hmac.compare_digest(expected.encode(), signature.encode())


def parse_timestamp(raw: str) -> int | None:
    """Unix ms from the header, or None when it is not a plain non-negative integer."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 16:
        return None
    return int(raw)


def timestamp_in_window(timestamp_ms: int, now_ms: int, window_ms: int = DEFAULT_WINDOW_MS,
                        future_ms: int = MAX_FUTURE_MS) -> bool:
    return now_ms - window_ms <= timestamp_ms <= now_ms + future_ms


def restart_bound(started_ms: int, future_ms: int = MAX_FUTURE_MS) -> int:
    """The earliest timestamp a freshly started server may accept (docs/api.md).

    The previous process accepted timestamps up to (its last moment + future_ms),
    and its last moment precedes `started_ms` on the same clock; refusing anything
    below started_ms + future_ms means none of its requests can be replayed here.
    """
    return started_ms + future_ms


class ReplayGuard:
    """Signatures seen inside the receive window, so an identical request is accepted once.

    An entry is needed only until its timestamp leaves the window; after that the
    timestamp check refuses the request anyway. The store is bounded: when full,
    the oldest entry (the one closest to expiry) is dropped first.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._expiry: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._expiry)

    def first_use(self, signature: str, expires_at_ms: int, now_ms: int) -> bool:
        """Record `signature`; False when it was already used and has not yet expired."""
        with self._lock:
            self._prune(now_ms)
            seen = self._expiry.get(signature)
            if seen is not None and seen >= now_ms:
                return False
            self._expiry[signature] = expires_at_ms
            self._expiry.move_to_end(signature)
            while len(self._expiry) > self.max_entries:
                self._expiry.popitem(last=False)
            return True

    def _prune(self, now_ms: int) -> None:
        # Insertion order is nearly expiry order (timestamps are close to now), so
        # stopping at the first live entry keeps pruning O(expired).
        while self._expiry:
            signature, expiry = next(iter(self._expiry.items()))
            if expiry >= now_ms:
                return
            del self._expiry[signature]
