"""Strategy templates with their parameter schemas."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api.auth import Caller, signed
from api.models import TemplateList
from api.openapi import responses
from api.weights import WEIGHTS
from engine import templates_catalog

router = APIRouter(prefix="/v1/backtest/templates", tags=["templates"])
TemplatesCaller = Annotated[Caller, Depends(signed(WEIGHTS["list_templates"]))]


@router.get("", response_model=TemplateList, responses=responses(), summary="List Templates",
            description="Weight: 1. Strategy templates with their parameter schemas "
            "(JSON Schema); Create Job validates `params` against them.")
async def list_templates(_: TemplatesCaller) -> Any:
    return {"data": templates_catalog()}
