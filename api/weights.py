"""Request weights (docs/api.md, "Weights"): each key spends a budget per minute, in a
moving window.

`memory://` keeps the counters per API instance in `MemoryWindow` (below); a
shared `limits` storage URI (e.g. `redis://…`) makes several instances share one
budget. A refused request spends nothing. The used weight is published on every response
by `UsedWeightHeader`, which reads it from the request's state so that error
responses carry it too.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

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
    "cancel_jobs": 50,
    "label_job": 5,
    "job_labels": 1,
    "job_events": 5,
    "job_trades": 10,
    "job_equity": 10,
    "list_templates": 1,
    "create_sweep": 50,
    "list_sweeps": 5,
    "get_sweep": 1,
    "cancel_sweep": 10,
    "sweep_leaderboard": 5,
    "sweep_walk_forward": 10,
}


@dataclass(frozen=True)
class Charge:
    allowed: bool
    used: int
    retry_after_s: int


WINDOW_S = 60.0


class WeightLimiter(Protocol):
    budget: int

    def charge(self, api_key: str, weight: int) -> Charge: ...

    def used(self, api_key: str) -> int: ...


def weight_limiter(budget_per_minute: int, storage_uri: str = "memory://") -> WeightLimiter:
    if storage_uri == "memory://":
        return MemoryWindow(budget_per_minute)
    return SharedWindow(budget_per_minute, storage_uri)


class MemoryWindow:
    """A moving 60 s window per key, in this process: (time, weight) spends in a deque and
    their running sum, so a charge is O(1) amortised. `limits`' own memory storage keeps
    one entry per unit of weight, inserts at the front of a list, and scans every key from
    a timer thread 100 times a second: at a few thousand requests/s that cost more than
    the request. Called on the event loop only (no lock)."""

    def __init__(self, budget_per_minute: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.budget = budget_per_minute
        self._clock = clock
        self._spends: dict[str, deque[tuple[float, int]]] = {}
        self._totals: dict[str, int] = {}
        self._next_sweep = 0.0

    def _expire(self, api_key: str, now: float) -> int:
        spends = self._spends.get(api_key)
        if spends is None:
            return 0
        total = self._totals[api_key]
        horizon = now - WINDOW_S
        while spends and spends[0][0] <= horizon:
            total -= spends.popleft()[1]
        self._totals[api_key] = total
        return total

    def charge(self, api_key: str, weight: int) -> Charge:
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        total = self._expire(api_key, now)
        if weight > self.budget or total + weight > self.budget:
            return Charge(False, total, self._retry_after(api_key, weight, now))
        self._spends.setdefault(api_key, deque()).append((now, weight))
        self._totals[api_key] = total + weight
        return Charge(True, total + weight, 0)

    def used(self, api_key: str) -> int:
        return self._expire(api_key, self._clock())

    def _retry_after(self, api_key: str, weight: int, now: float) -> int:
        """Seconds until enough of the window has expired for `weight` to fit (60 if never)."""
        if weight > self.budget:
            return int(WINDOW_S)
        excess = self._totals.get(api_key, 0) + weight - self.budget
        for at, spent in self._spends.get(api_key, ()):
            excess -= spent
            if excess <= 0:
                return max(1, math.ceil(at + WINDOW_S - now))
        return int(WINDOW_S)

    def _sweep(self, now: float) -> None:
        """Forget keys idle for a whole window, once a minute (memory stays bounded)."""
        self._next_sweep = now + WINDOW_S
        for api_key in [k for k, s in self._spends.items() if not s or s[-1][0] <= now - WINDOW_S]:
            del self._spends[api_key], self._totals[api_key]


class SharedWindow:
    """The budget in a shared `limits` storage (moving window), so instances share it."""

    def __init__(self, budget_per_minute: int, storage_uri: str) -> None:
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
