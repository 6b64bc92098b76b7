"""Names the API integration tests use for a live (signed) stack; see conftest.py."""

from __future__ import annotations

from cli.stack import Stack
from pipai.keys import ApiKey
from pipai.settings import Settings
from tests.integration.conftest import run_stack as start_signed_stack
from tests.integration.conftest import stack_settings as signed_settings


def base_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.api_port}"


def wait_signed_api(stack: Stack, key: ApiKey, timeout_s: float = 120.0) -> None:
    stack.wait_api(key, timeout_s)


__all__ = ["base_url", "signed_settings", "start_signed_stack", "wait_signed_api"]
