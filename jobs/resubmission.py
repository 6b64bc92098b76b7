"""What a submit of an aggregate that already exists means, one rule for jobs and sweeps
(docs/api.md, "Create Job and Idempotency-Key")."""

from __future__ import annotations

from typing import Any

IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
INVALID_STATE = "INVALID_STATE"


def resubmitted(state: Any, cmd: Any, kind: str) -> tuple[str, str] | None:
    """None for a retry with the same Idempotency-Key and body (nothing to decide), else
    the rejection's (code, message): the key with another body, or another submit."""
    same_key = cmd.idempotency_key is not None and cmd.idempotency_key == state.idempotency_key
    if same_key and cmd.owner == state.owner:
        if cmd.request_hash == state.request_hash:
            return None
        return IDEMPOTENCY_CONFLICT, "Idempotency-Key was already used with another request body"
    return INVALID_STATE, f"{kind} already exists"
