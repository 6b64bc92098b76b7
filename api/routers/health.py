"""GET /v1/health: is the stack up, and if not, which component is down.

Unsigned and weightless, for load balancers and supervisors (docs/api.md); the
answer comes from api/health_check.py, at most one probe a second.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.deps import health_checker, projection
from api.models import Health

router = APIRouter(tags=["health"])


@router.get("/v1/health", response_model=Health, summary="Health",
            openapi_extra={"security": []},
            responses={503: {"model": Health, "description": "A component is not up: "
                                                            "the body says which."}},
            description="Unsigned, no weight. 200 when the broker answers, the orchestrator "
            "and engine groups have members and this instance's view has caught up with the log; "
            "503 otherwise. Refreshed at most once a second.")
async def health(request: Request) -> Any:
    answer = await health_checker(request).answer(projection(request))
    return JSONResponse(answer.model_dump(exclude_none=True),
                        status_code=200 if answer.status == "ok" else 503)
