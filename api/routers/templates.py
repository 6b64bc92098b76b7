"""Strategy templates with their parameter schemas."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from api.deps import signed_caller
from api.models import TemplateList
from api.openapi import responses
from engine import templates_catalog

router = APIRouter(prefix="/v1/backtest/templates", tags=["templates"])


@router.get("", response_model=TemplateList, responses=responses(), summary="List Templates",
            description="Weight: 1. Strategy templates with their parameter schemas "
            "(JSON Schema); Create Job validates `params` against them.")
async def list_templates(request: Request) -> Any:
    await signed_caller(request, "list_templates")
    return {"data": templates_catalog()}
