"""API keys and their secrets, in one JSON file readable by its owner only (0600).

The file is the only place a secret lives; nothing logs it. Each key belongs to
an owner (the tenant whose jobs it sees).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class ApiKey:
    api_key: str
    secret: str
    owner: str
    created_at: int
    revoked: bool = False


class KeyStore:
    """The key file, re-read when it changes. With `recheck_s`, a known key is served
    from memory for up to that long before the file's mtime is checked again (a revocation
    takes at most that long to apply; the API's hot path then skips a stat() per request);
    an unknown key always checks the file, so a key just created works at once."""

    def __init__(self, path: Path, recheck_s: float = 0.0) -> None:
        self.path = path
        self.recheck_s = recheck_s
        self._cache: dict[str, ApiKey] = {}
        self._mtime: float = -1.0
        self._checked_at = -float("inf")

    def _load(self) -> dict[str, ApiKey]:
        self._checked_at = time.monotonic()
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return {}
        if mtime != self._mtime:
            raw = json.loads(self.path.read_text() or "{}")
            self._cache = {k: ApiKey(**v) for k, v in raw.items()}
            self._mtime = mtime
        return self._cache

    def _save(self, keys: dict[str, ApiKey]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({k: asdict(v) for k, v in keys.items()}, out, indent=2)
        os.replace(tmp, self.path)
        os.chmod(self.path, 0o600)
        self._cache, self._mtime = keys, self.path.stat().st_mtime  # this store sees it at once

    def _locked(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX)
        return lock

    def create(self, owner: str) -> ApiKey:
        lock = self._locked()
        try:
            keys = dict(self._load())
            key = ApiKey(api_key="pk_" + secrets.token_hex(16), secret=secrets.token_hex(32),
                         owner=owner, created_at=int(time.time() * 1000))
            keys[key.api_key] = key
            self._save(keys)
            return key
        finally:
            os.close(lock)

    def revoke(self, api_key: str) -> bool:
        lock = self._locked()
        try:
            keys = dict(self._load())
            if api_key not in keys:
                return False
            keys[api_key] = ApiKey(**{**asdict(keys[api_key]), "revoked": True})
            self._save(keys)
            return True
        finally:
            os.close(lock)

    def get(self, api_key: str) -> ApiKey | None:
        fresh = time.monotonic() - self._checked_at < self.recheck_s
        key = (self._cache if fresh else self._load()).get(api_key)
        if key is None and fresh:
            key = self._load().get(api_key)
        return None if key is None or key.revoked else key

    def all(self) -> list[ApiKey]:
        return list(self._load().values())
