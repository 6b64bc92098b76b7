"""A job's statuses, declared once (docs/architecture.md, "The decider"): the decider, the
API's models and filters, the CLI and the chaos checker all read them from here."""

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
