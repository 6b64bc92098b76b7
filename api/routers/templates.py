"""Strategy templates with their parameter schemas."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api.auth import Caller, authenticate
from api.models import TemplateList
from engine import templates_catalog

router = APIRouter(prefix="/v1/backtest/templates", tags=["templates"])


@router.get("", response_model=TemplateList)
async def list_templates(_: Annotated[Caller, Depends(authenticate)]) -> Any:
    return {"data": templates_catalog()}
