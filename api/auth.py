"""Authentication as a dependency: who is calling (the key's owner)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from api.errors import ApiError
from api.keys import KeyStore


@dataclass(frozen=True)
class Caller:
    api_key: str
    owner: str


def authenticate(request: Request) -> Caller:
    store: KeyStore = request.app.state.keys
    api_key = request.headers.get("X-PipAI-API-Key")
    if not api_key:
        raise ApiError("UNAUTHORIZED", "missing X-PipAI-API-Key")
    key = store.get(api_key)
    if key is None:
        raise ApiError("UNAUTHORIZED", "unknown or revoked API key")
    return Caller(api_key=key.api_key, owner=key.owner)
