"""What routes depend on, declared once: `Annotated[X, Depends(get_x)]` aliases.

A route names what it needs by type (`jobs: View`, `service: Service`,
`caller: CreateJobCaller`) and never reaches into the application's state
itself: the objects the app builds at start (api/app.py) are handed out here.
Each endpoint's caller alias spends that endpoint's weight (api/weights.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from api.auth import Caller, signed
from api.health_check import HealthChecker
from api.replica import JobsReplica
from api.service import CommandSender, JobsService
from api.weights import WEIGHTS
from pipai.settings import Settings


# Async, so FastAPI calls them on the event loop rather than in its thread pool.
async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_view(request: Request) -> JobsReplica:
    state = request.app.state
    return JobsReplica(state.view, state.projection)


async def get_command_bus(request: Request) -> CommandSender:
    commands: CommandSender = request.app.state.commands
    return commands


async def get_projection(request: Request) -> Any:
    """The ProjectionRunner, None until the app's lifespan has started it."""
    return getattr(request.app.state, "projection", None)


SettingsDep = Annotated[Settings, Depends(get_settings)]
View = Annotated[JobsReplica, Depends(get_view)]
Commands = Annotated[CommandSender, Depends(get_command_bus)]
ProjectionDep = Annotated[Any, Depends(get_projection)]


async def get_jobs_service(jobs: View, commands: Commands) -> JobsService:
    return JobsService(jobs, commands)


async def get_health_checker(request: Request, settings: SettingsDep) -> HealthChecker:
    """One checker per app (its cache is what bounds the probes to one a second)."""
    state = request.app.state
    checker: HealthChecker | None = getattr(state, "health_checker", None)
    if checker is None:
        checker = state.health_checker = HealthChecker(settings)
    return checker


Service = Annotated[JobsService, Depends(get_jobs_service)]
HealthCheckerDep = Annotated[HealthChecker, Depends(get_health_checker)]

# The signed caller, having spent the endpoint's weight.
CreateJobCaller = Annotated[Caller, Depends(signed(WEIGHTS["create_job"]))]
ListJobsCaller = Annotated[Caller, Depends(signed(WEIGHTS["list_jobs"]))]
GetJobCaller = Annotated[Caller, Depends(signed(WEIGHTS["get_job"]))]
GetResultCaller = Annotated[Caller, Depends(signed(WEIGHTS["get_result"]))]
CancelJobCaller = Annotated[Caller, Depends(signed(WEIGHTS["cancel_job"]))]
JobEventsCaller = Annotated[Caller, Depends(signed(WEIGHTS["job_events"]))]
ListTemplatesCaller = Annotated[Caller, Depends(signed(WEIGHTS["list_templates"]))]
