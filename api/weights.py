"""Request weights (docs/api.md, "Weights"): each key spends a budget per minute, in a
moving window.

Counters live in a `limits` storage: `memory://` keeps them per API instance;
a shared URI (e.g. `redis://…`) makes several instances share one budget. A
refused request spends nothing. The used weight is published on every response
by `UsedWeightHeader`, which reads it from the request's state so that error
responses carry it too.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

USED_WEIGHT_HEADER = "X-PipAI-Used-Weight-1m"
STATE_KEY = "used_weight"

# One place (docs/api.md, "Weights"): each endpoint's caller alias in api/deps.py names its weight.
WEIGHTS = {
    "create_job": 10,
    "list_jobs": 5,
    "get_job": 1,
    "get_result": 10,
    "cancel_job": 5,
    "job_events": 5,
    "list_templates": 1,
}


@dataclass(frozen=True)
class Charge:
    allowed: bool
    used: int
    retry_after_s: int


class WeightLimiter:
    def __init__(self, budget_per_minute: int, storage_uri: str = "memory://") -> None:
        self.budget = budget_per_minute
        self.item = RateLimitItemPerMinute(budget_per_minute)
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    def charge(self, api_key: str, weight: int) -> Charge:
        allowed = weight <= self.budget and self.limiter.hit(self.item, api_key, cost=weight)
        stats = self.limiter.get_window_stats(self.item, api_key)
        used = self.budget - stats.remaining
        retry = 0 if allowed else max(1, math.ceil(stats.reset_time - time.time()))
        return Charge(allowed, used, retry)

    def used(self, api_key: str) -> int:
        return self.budget - self.limiter.get_window_stats(self.item, api_key).remaining


class UsedWeightHeader:
    """Pure ASGI middleware (streams pass through untouched, unlike BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_weight(message: Message) -> None:
            if message["type"] == "http.response.start":
                used = scope.get("state", {}).get(STATE_KEY)
                if used is None:  # no route authenticated it (e.g. 404/405): report anyway
                    used = _used_by_known_key(scope)
                if used is not None:
                    headers = list(message.get("headers", []))
                    headers.append((USED_WEIGHT_HEADER.lower().encode(), str(used).encode()))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_weight)


def _used_by_known_key(scope: Scope) -> int | None:
    api_key = next((v.decode("latin-1") for k, v in scope.get("headers", ())
                    if k == b"x-pipai-api-key"), None)
    verifier = getattr(scope["app"].state, "verifier", None) if "app" in scope else None
    if not api_key or verifier is None or verifier.keys.get(api_key) is None:
        return None
    used: int = verifier.limiter.used(api_key)
    return used
