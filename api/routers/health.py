"""GET /v1/health: is the stack up, and if not, which component is down.

Unsigned and weightless, for load balancers and supervisors (docs/api.md). The
answer is computed at most once a second whatever the request rate (one probe in
flight, its result shared), and the Kafka admin calls run in a thread, never on
the event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from pipai.health import STARTING, UP, ClusterHealth, ClusterProbe
from pipai.log import get_logger
from pipai.settings import Settings
from pipai.topics import Topics

log = get_logger("api.health")
router = APIRouter(tags=["health"])
CACHE_TTL_S = 1.0


class ComponentHealth(BaseModel):
    state: Literal["up", "down", "starting", "unknown"] = Field(
        description="unknown: cannot tell while the broker is down")
    brokers: int | None = Field(None, description="broker: brokers in the cluster metadata")
    members: int | None = Field(None, description="orchestrator, engine: consumer group members")
    lag: int | None = Field(None, description="view: messages of the log not yet in this "
                                              "instance's view (informational)")


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    components: dict[str, ComponentHealth] = Field(
        description="broker, orchestrator, engine, view")


class _Cached:
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


class _Checker:
    def __init__(self, settings: Settings) -> None:
        self.probe = ClusterProbe(settings)
        self.topics = Topics.for_prefix(settings.topic_prefix)
        self.cache = _Cached()
        self.last: dict[str, str] = {}

    def check(self, projection: Any) -> Health:
        """Blocking: run it in a thread."""
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


@router.get("/v1/health", response_model=Health, summary="Health",
            openapi_extra={"security": []},
            responses={503: {"model": Health, "description": "A component is not up: "
                                                            "the body says which."}},
            description="Unsigned, no weight. 200 when the broker answers, the orchestrator "
            "and engine groups have members and this instance's view has caught up with the log; "
            "503 otherwise. Refreshed at most once a second.")
async def health(request: Request) -> Any:
    state = request.app.state
    projection = getattr(state, "projection", None)
    checker: _Checker | None = getattr(state, "health_checker", None)
    if checker is None:
        # the app's own settings: the environment's defaults may name another cluster
        settings = getattr(state, "settings", None) or Settings.from_env()
        checker = state.health_checker = _Checker(settings)
    check = checker.check
    answer = await checker.cache.get(lambda: asyncio.to_thread(check, projection))
    return JSONResponse(answer.model_dump(exclude_none=True),
                        status_code=200 if answer.status == "ok" else 503)
