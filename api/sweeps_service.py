"""The sweeps application service: Create Sweep and Cancel Sweep (docs/api.md, "Sweeps").

Every child's config is checked with the engine's own rules before anything is sent
(the first bad one answers 400 INVALID_PARAMETER naming the varied path and value that
made it bad), then one SubmitSweep goes to the log; the orchestrator fans it out to the
children (jobs/sweep_decider.py). The answers are the jobs service's (`Decided`,
`Pending`, `NotAccepted`), carrying a SweepState.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from api.auth import Caller
from api.commands import CommandUndecided
from api.errors import ApiError
from api.replica import JobsReplica
from api.service import (
    CommandSender,
    Outcome,
    checked_config,
    correlation_for,
    new_id_hex,
    outcome_of,
    raise_if_rejected,
    request_hash,
    wall_ms,
)
from api.service import Decided as Decided
from jobs.decider import decide, initial_state
from jobs.messages import CancelSweep, SubmitSweep
from jobs.sweep_decider import sweep_not_found
from jobs.sweep_space import (
    SweepSpec,
    SweepSpecError,
    child_config,
    parse_sweep,
    varied,
    window_test_config,
)
from jobs.sweep_state import SWEEP_PREFIX, SweepState, is_sweep_id
from projections.jobs_view import JobsView


def sweep_id_for_key(owner: str, idempotency_key: str) -> str:
    """A sweep's id from its owner's Idempotency-Key (its own space: not a job's id)."""
    digest = hashlib.sha256(f"{owner}\x00sweep\x00{idempotency_key}".encode()).hexdigest()
    return SWEEP_PREFIX + digest[:16]


def checked_sweep(body: dict[str, Any],
                  finest_timeframe: Callable[[str], str | None] | None = None) -> SweepSpec:
    """The sweep's spec once every child config passes the engine's rules."""
    try:
        spec = parse_sweep(body)
    except SweepSpecError as exc:
        raise ApiError("INVALID_PARAMETER", str(exc)) from None
    try:
        checked_config(spec.base, finest_timeframe)
    except ApiError as exc:
        if not spec.paths or not _about_varied(exc.message, spec.paths):
            raise ApiError("INVALID_PARAMETER", f"base.{exc.message}") from None
    plan = spec.walk_forward
    for index in range(spec.total if plan is None else plan.training_children):
        _checked_child(spec, index, child_config(spec, index), finest_timeframe)
    if plan is not None:  # a test child runs one combination; its span is what differs
        for window in range(len(plan.windows)):
            _checked_child(spec, plan.test_index(window),
                           window_test_config(spec, window, 0), finest_timeframe,
                           values=varied(spec, plan.training_index(window, 0)))
    return spec


def _checked_child(spec: SweepSpec, index: int, config: dict[str, Any],
                   finest_timeframe: Callable[[str], str | None] | None,
                   values: dict[str, Any] | None = None) -> None:
    try:
        checked_config(config, finest_timeframe)
    except ApiError as exc:
        shown = ", ".join(f"{path}={orjson.dumps(value).decode()}"
                          for path, value in (values or varied(spec, index)).items())
        raise ApiError("INVALID_PARAMETER", f"child {index} ({shown}): {exc.message}") from None


def _about_varied(message: str, paths: tuple[str, ...]) -> bool:
    """Whether a base config's error is about a field the sweep sets in every child."""
    where = message.split(":", 1)[0]
    return any(where == path or where.startswith(path + ".") or where.startswith(path + "[")
               for path in paths)


@dataclass
class SweepsService:
    jobs: JobsReplica
    commands: CommandSender
    now_ms: Callable[[], int] = field(default=wall_ms)
    new_id: Callable[[], str] = field(default=new_id_hex)
    finest_timeframe: Callable[[str], str | None] | None = None

    async def submit(self, caller: Caller, body: dict[str, Any],
                     idempotency_key: str | None = None,
                     request_id: str | None = None) -> Outcome:
        """Create Sweep: the sweep once accepted; a key seen before: that sweep."""
        checked_sweep(body, self.finest_timeframe)
        command_id = self.new_id()
        sweep_id = (sweep_id_for_key(caller.owner, idempotency_key) if idempotency_key
                    else SWEEP_PREFIX + self.new_id()[:16])
        command = SubmitSweep(command_id=command_id, sweep_id=sweep_id, owner=caller.owner,
                              config_json=orjson.dumps(body).decode(),
                              submitted_at=self.now_ms(),
                              correlation_id=correlation_for(request_id, command_id),
                              idempotency_key=idempotency_key, request_hash=request_hash(body))
        view = self.jobs.served()
        exists = (lambda: _exists(view, sweep_id)) if idempotency_key else None
        try:
            event = await self.commands.send(command, already_decided=exists)
        except CommandUndecided as undecided:
            return outcome_of(undecided)
        raise_if_rejected([event] if event is not None else [])
        if idempotency_key and (event is None or event.causation_id != command.command_id):
            existing = view.get(sweep_id)
            if isinstance(existing, SweepState) and existing.exists:
                raise_if_rejected(decide(existing, command))
                return Decided(existing, replayed=True)
        return Decided(owned_sweep(view, caller, sweep_id))

    async def cancel(self, caller: Caller, sweep_id: str, reason: str | None = None,
                     request_id: str | None = None) -> Outcome:
        """Cancel Sweep: the sweep once cancelled (its children's cancels follow)."""
        view = self.jobs.served()
        command_id = self.new_id()
        command = CancelSweep(command_id=command_id, sweep_id=sweep_id, owner=caller.owner,
                              issued_at=self.now_ms(),
                              correlation_id=correlation_for(request_id, command_id),
                              reason=reason)
        owned_sweep(view, caller, sweep_id)
        raise_if_rejected(decide(view.get(sweep_id) or initial_state(sweep_id), command))
        try:
            event = await self.commands.send(command)
        except CommandUndecided as undecided:
            return outcome_of(undecided)
        raise_if_rejected([event] if event is not None else [])
        return Decided(owned_sweep(view, caller, sweep_id))


def owned_sweep(view: JobsView, caller: Caller, sweep_id: str) -> SweepState:
    state = view.get(sweep_id) if is_sweep_id(sweep_id) else None
    if not isinstance(state, SweepState) or not state.exists or state.owner != caller.owner:
        raise ApiError("NOT_FOUND", sweep_not_found(sweep_id))
    return state


def _exists(view: JobsView, sweep_id: str) -> bool:
    state = view.get(sweep_id)
    return isinstance(state, SweepState) and state.exists
