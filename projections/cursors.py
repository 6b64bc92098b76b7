"""Listing cursors, signed so that only the server's own cursors are accepted.

A cursor names the listing index it walks and the index key it stopped at. It
is `base64url(JSON {"i": index, "k": key}) "." base64url(tag)`, where the tag is
an HMAC-SHA256 (truncated to 16 bytes) under a server key, over the owner and
the payload: a forged, edited or another owner's cursor is refused, never
silently answered with an arbitrary or empty page (docs/api.md, *Lists*).

The key lives in `<data_dir>/cursor-key` (0600), created on first use, so every
API instance sharing the data directory accepts every other's cursors.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

import orjson

TAG_BYTES = 16
# An index key's tail: the inverted submission time, then the job id (projections/jobs_view.py).
_TAIL = re.compile(r"\d{16}\x00[^\x00]{1,200}")


class CursorError(ValueError):
    pass


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode())


class CursorSigner:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def _tag(self, owner: str, payload: bytes) -> bytes:
        mac = hmac.new(self._key, owner.encode() + b"\x00" + payload, hashlib.sha256)
        return mac.digest()[:TAG_BYTES]

    def encode(self, owner: str, index: str, tail: bytes) -> str:
        payload = orjson.dumps({"i": index, "k": tail.decode()})
        return f"{_b64(payload)}.{_b64(self._tag(owner, payload))}"

    def decode(self, cursor: str, owner: str, index: str) -> bytes:
        """The index key tail to resume after; CursorError unless the server made it."""
        try:
            encoded_payload, encoded_tag = cursor.split(".")
            payload, tag = _unb64(encoded_payload), _unb64(encoded_tag)
        except ValueError:
            raise CursorError("invalid cursor") from None
        if not hmac.compare_digest(tag, self._tag(owner, payload)):
            raise CursorError("invalid cursor")
        try:
            fields = orjson.loads(payload)
            found_index, tail = fields["i"], fields["k"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise CursorError("invalid cursor") from None
        if found_index != index:
            raise CursorError("cursor belongs to another filter")
        if not isinstance(tail, str) or not _TAIL.fullmatch(tail):
            raise CursorError("invalid cursor")
        return tail.encode()


def load_or_create_key(path: Path) -> bytes:
    """The shared cursor key; the first process to need it writes it (atomically)."""
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32))
    try:
        os.link(tmp, path)  # fails if another process won the race: then use its key
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return bytes.fromhex(path.read_text().strip())
