"""A job's statuses, declared once (docs/architecture.md, "The decider"): the decider, the
events, the audit and the API's models and filters read them from here; the SDK, which may
not import the server, keeps a copy held equal by tests/pipai/test_client_statuses.py."""

from __future__ import annotations

from typing import Final, Literal

Status = Literal["queued", "running", "done", "failed", "cancelled"]

QUEUED: Final = "queued"
RUNNING: Final = "running"
DONE: Final = "done"
FAILED: Final = "failed"
CANCELLED: Final = "cancelled"

STATUSES: Final[tuple[str, ...]] = (QUEUED, RUNNING, DONE, FAILED, CANCELLED)
TERMINAL: Final[frozenset[str]] = frozenset({DONE, FAILED, CANCELLED})
