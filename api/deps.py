"""What routes need, handed out by plain functions of the request, declared once.

A route takes `request: Request` and asks for what it needs: `await signed_caller(request,
"get_job")` checks the signature and spends that endpoint's weight (api/weights.py),
`jobs_replica(request)` and `jobs_service(request)` are the view and the use cases. A
router never reaches into the application's state itself: the objects the app builds at
start (api/app.py) are handed out here.

Plain calls rather than FastAPI's `Depends`: the dependency solver cost about 13 µs per
dependency per request, a tenth of a Get Job (docs/performance.md, "API"). FastAPI
validates a route's declared parameters before the route runs; api/errors.py's
validation handler checks the signature and spends the weight first, so a malformed
request is answered as it was when the caller was a dependency (401 before 400, and
weight spent).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from api.auth import Caller, Verifier
from api.health_check import HealthChecker
from api.replica import JobsReplica
from api.service import JobsService
from api.sweeps_service import SweepsService
from api.weights import WEIGHTS


async def signed_caller(request: Request, endpoint: str) -> Caller:
    """The verified caller, having spent `endpoint`'s weight (api/auth.py)."""
    verifier: Verifier = request.app.state.verifier
    return await verifier.verify(request, WEIGHTS[endpoint])


def jobs_replica(request: Request) -> JobsReplica:
    state = request.app.state
    return JobsReplica(state.view, state.projection, state.documents)


def jobs_service(request: Request) -> JobsService:
    state = request.app.state
    return JobsService(jobs_replica(request), state.commands,
                       finest_timeframe=state.market.finest_timeframe)


def projection(request: Request) -> Any:
    """The ProjectionRunner, None until the app's lifespan has started it."""
    return getattr(request.app.state, "projection", None)


def health_checker(request: Request) -> HealthChecker:
    """One checker per app (its cache is what bounds the probes to one a second)."""
    state = request.app.state
    checker: HealthChecker | None = getattr(state, "health_checker", None)
    if checker is None:
        checker = state.health_checker = HealthChecker(state.settings)
    return checker


def sweeps_service(request: Request) -> SweepsService:
    state = request.app.state
    return SweepsService(jobs_replica(request), state.commands,
                         finest_timeframe=state.market.finest_timeframe)
