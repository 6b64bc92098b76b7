"""The health answer behind GET /v1/health: probe the cluster, add this instance's view.

The answer is computed at most once a second whatever the request rate (one
probe in flight, its result shared), and the Kafka admin calls run in a thread,
never on the event loop (docs/api.md, "Health").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from api.models import ComponentHealth, Health
from pipai.health import STARTING, UP, ClusterHealth, ClusterProbe
from pipai.log import get_logger
from pipai.settings import Settings
from pipai.topics import Topics

log = get_logger("api.health")
CACHE_TTL_S = 1.0


class CachedHealth:
    """The last answer for CACHE_TTL_S; concurrent callers share one computation."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._at = float("-inf")
        self._value: Health | None = None

    async def get(self, compute: Callable[[], Awaitable[Health]]) -> Health:
        async with self._lock:
            if self._value is None or time.monotonic() - self._at >= CACHE_TTL_S:
                self._value = await compute()
                self._at = time.monotonic()
            return self._value


class HealthChecker:
    def __init__(self, settings: Settings) -> None:
        self.probe = ClusterProbe(settings)
        self.topics = Topics.for_prefix(settings.topic_prefix)
        self.cache = CachedHealth()
        self.last: dict[str, str] = {}

    async def answer(self, projection: Any) -> Health:
        """The cached answer, or a fresh one computed in a thread."""
        return await self.cache.get(lambda: asyncio.to_thread(self.check, projection))

    def check(self, projection: Any) -> Health:
        """Blocking: run it in a thread. `projection`: the ProjectionRunner, None before
        the app's lifespan has started one."""
        # up once the view folded the log as it was at start (before that reads answer 503)
        ready = projection is not None and projection.caught_up
        offsets = ({t: projection.view.offsets(t) for t in (self.topics.events,
                                                            self.topics.results)}
                   if ready else None)
        cluster: ClusterHealth = self.probe.probe(offsets)
        components = dict(cluster.components)
        components["view"] = ({"state": UP, "lag": cluster.view_lag} if ready
                              else {"state": STARTING if projection is not None else "down"})
        states = {name: c["state"] for name, c in components.items()}
        if states != self.last:  # one line per change, with the reasons kept out of the body
            errors = {n: c["error"] for n, c in components.items() if "error" in c}
            log.warning("health_changed", states=states, errors=errors)
            self.last = states
        return Health(
            status="ok" if all(s == UP for s in states.values()) else "unavailable",
            components={n: ComponentHealth(**{k: v for k, v in c.items() if k != "error"})
                        for n, c in components.items()},
        )
