"""The jobs application service: the use cases behind Create Job and Cancel (docs/api.md).

A use case validates what the decider cannot (the config, against its template),
derives the job id, builds the command, checks it against this instance's view
with the decider itself (jobs/decider.py: so a refusal known in advance carries
the orchestrator's very code and text), sends it through the command bus and
reads the decision back from the view. The answer is a value, `Decided` (201 or
200), `Pending` (202) or `NotAccepted` (503); a refusal is an `ApiError`. HTTP
stays in api/routers/jobs.py, which only translates; sweeps will come here too.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from api.auth import Caller
from api.commands import CommandPending, CommandUndecided
from api.errors import ApiError
from api.replica import JobsReplica, owned
from engine import ConfigError, parse_config
from engine.marketdata.store import too_fine_message
from engine.timeframes import TIMEFRAME_MS
from jobs.decider import decide, initial_state
from jobs.messages import AnnotateJob, CancelJob, Command, CommandRejected, Event, SubmitJob
from jobs.statuses import CANCELLED, STATUSES, TERMINAL
from projections.jobs_view import JobsView

BULK_CANCEL_MAX = 10_000  # jobs one bulk cancel takes on; the answer says if more remain
BULK_CANCEL_CONCURRENCY = 64  # cancels in flight at once (each waits for its decision)


class CommandSender(Protocol):
    """The command bus as the service sees it (api/commands.py's CommandBus)."""

    async def send(self, command: Command,
                   already_decided: Callable[[], bool] | None = None) -> Event | None: ...


@dataclass(frozen=True)
class Decided:
    """201 (create) or 200 (cancel): the job once the orchestrator has decided."""

    job: Any  # a JobState, or a SweepState from the sweeps service (api/sweeps_service.py)
    replayed: bool = False  # a create retried with its Idempotency-Key: the job as it is now


@dataclass(frozen=True)
class Pending:
    """202: the command is on the log (or is re-sent until it is) but was not decided in time."""

    job_id: str


@dataclass(frozen=True)
class NotAccepted:
    """503: the command is known not to be on the log; nothing was accepted."""

    job_id: str


Outcome = Decided | Pending | NotAccepted


def job_id_for_key(owner: str, idempotency_key: str) -> str:
    """Keys are per owner and live in the event log: the job id is derived from both."""
    digest = hashlib.sha256(f"{owner}\x00{idempotency_key}".encode()).hexdigest()
    return "bt_" + digest[:16]


def request_hash(config: dict[str, Any]) -> str:
    """The body's hash, canonical: key order does not matter."""
    return hashlib.sha256(orjson.dumps(config, option=orjson.OPT_SORT_KEYS)).hexdigest()


def checked_config(config: dict[str, Any],
                   finest_timeframe: Callable[[str], str | None] | None = None) -> None:
    """The config's rules (engine/config.py), which the decider does not know; with
    `finest_timeframe` (the market data the API can see, engine/marketdata/store.py),
    a timeframe finer than a symbol's data is refused too (a symbol the API does not
    see is left to the workers, which fail the job UNKNOWN_SYMBOL)."""
    try:
        parsed = parse_config(config)
    except ConfigError as exc:
        raise ApiError("INVALID_PARAMETER", f"{exc.field}: {exc.message}") from None
    if finest_timeframe is None:
        return
    for symbol in parsed.symbols:
        finest = finest_timeframe(symbol)
        if finest is not None and TIMEFRAME_MS[parsed.timeframe] < TIMEFRAME_MS[finest]:
            raise ApiError("INVALID_PARAMETER",
                           f"timeframe: {too_fine_message(symbol, parsed.timeframe, finest)}")


def raise_if_rejected(events: list[Event]) -> None:
    """A CommandRejected, as the API error of the same code and text."""
    for event in events:
        if isinstance(event, CommandRejected):
            raise ApiError(event.error_code, event.error_message)


def wall_ms() -> int:
    return int(time.time() * 1000)


def new_id_hex() -> str:
    return uuid.uuid4().hex


@dataclass
class JobsService:
    jobs: JobsReplica
    commands: CommandSender
    now_ms: Callable[[], int] = field(default=wall_ms)
    new_id: Callable[[], str] = field(default=new_id_hex)
    finest_timeframe: Callable[[str], str | None] | None = None  # a symbol's finest data

    async def submit(self, caller: Caller, config: dict[str, Any],
                     idempotency_key: str | None = None,
                     request_id: str | None = None) -> Outcome:
        """Create Job: the job once accepted; with an Idempotency-Key seen before, that job."""
        checked_config(config, self.finest_timeframe)
        command = self._submit_command(caller, config, idempotency_key, request_id)
        view = self.jobs.served()
        # A key seen before: its job exists, `send` sends nothing and the replay answers.
        exists = (lambda: _exists(view, command.job_id)) if idempotency_key else None
        try:
            event = await self.commands.send(command, already_decided=exists)
        except CommandUndecided as undecided:
            return outcome_of(undecided)
        raise_if_rejected([event] if event is not None else [])
        raced = idempotency_key and (event is None or event.causation_id != command.command_id)
        # The key's job existed already, or another request with it got there first (a
        # concurrent retry): that job, or IDEMPOTENCY_CONFLICT for another body.
        if raced and (replay := _replayed(view, command)) is not None:
            return replay
        return Decided(owned(view, caller, command.job_id))

    async def cancel(self, caller: Caller, job_id: str, reason: str | None = None,
                     request_id: str | None = None) -> Outcome:
        """Cancel: the job once the cancel is decided."""
        view = self.jobs.served()
        command_id = self.new_id()
        command = CancelJob(command_id=command_id, job_id=job_id, owner=caller.owner,
                            issued_at=self.now_ms(),
                            correlation_id=correlation_for(request_id, command_id), reason=reason)
        return await self._decided(view, caller, command)

    async def annotate(self, caller: Caller, job_id: str, *, name: str | None = None,
                       tags: list[str] | None = None, notes: str | None = None,
                       request_id: str | None = None) -> Outcome:
        """Set the job's name, tags or notes (None: kept; "" or []: cleared), in any
        status: the job once the JobAnnotated is in the view."""
        view = self.jobs.served()
        command_id = self.new_id()
        command = AnnotateJob(command_id=command_id, job_id=job_id, owner=caller.owner,
                              issued_at=self.now_ms(),
                              correlation_id=correlation_for(request_id, command_id),
                              name=name, tags=_unique(tags), notes=notes)
        return await self._decided(view, caller, command)

    async def _decided(self, view: JobsView, caller: Caller,
                       command: CancelJob | AnnotateJob) -> Outcome:
        """Send a command on an existing job: refused here as the decider would refuse it
        (not found, another owner's, already terminal), else the job once decided."""
        raise_if_rejected(decide(view.get(command.job_id) or initial_state(command.job_id),
                                 command))
        try:
            event = await self.commands.send(command)
        except CommandUndecided as undecided:
            return outcome_of(undecided)
        raise_if_rejected([event] if event is not None else [])
        return Decided(owned(view, caller, command.job_id))

    async def cancel_matching(self, caller: Caller, *, status: str | None = None,
                              template_id: str | None = None, tag: str | None = None,
                              reason: str | None = None,
                              request_id: str | None = None) -> tuple[int, int, bool]:
        """Bulk cancel: (matched, cancelled, more remain) for the caller's non-terminal
        jobs the list filters match, at most BULK_CANCEL_MAX a call, the cancels sent
        BULK_CANCEL_CONCURRENCY at a time. A job that ended meanwhile is not counted."""
        view = self.jobs.served()
        wanted = [status] if status else [s for s in STATUSES if s not in TERMINAL]
        matched: list[str] = []
        more = False
        for each in wanted:
            cursor: str | None = None
            while True:
                page = view.list_jobs(caller.owner, status=each, template_id=template_id,
                                      tag=tag, limit=100, cursor=cursor)
                matched += [s.job_id for s in page.states if not s.is_terminal]
                cursor = page.next_cursor
                if len(matched) >= BULK_CANCEL_MAX:
                    more = more or cursor is not None or len(matched) > BULK_CANCEL_MAX
                    break
                if cursor is None:
                    break
        matched = matched[:BULK_CANCEL_MAX]
        gate = asyncio.Semaphore(BULK_CANCEL_CONCURRENCY)

        async def one(job_id: str) -> bool:
            async with gate:
                try:
                    outcome = await self.cancel(caller, job_id, reason, request_id)
                except ApiError:  # ended meanwhile (INVALID_STATE): not cancelled by us
                    return False
                return isinstance(outcome, Decided) and outcome.job.status == CANCELLED

        done = await asyncio.gather(*(one(job_id) for job_id in matched))
        return len(matched), sum(done), more

    def _submit_command(self, caller: Caller, config: dict[str, Any],
                        idempotency_key: str | None, request_id: str | None) -> SubmitJob:
        command_id = self.new_id()
        job_id = (job_id_for_key(caller.owner, idempotency_key) if idempotency_key
                  else "bt_" + self.new_id()[:16])
        # Stored as sent (the echo keeps the caller's key order); hashed canonically.
        return SubmitJob(command_id=command_id, job_id=job_id, owner=caller.owner,
                         config_json=orjson.dumps(config).decode(),
                         submitted_at=self.now_ms(),
                         correlation_id=correlation_for(request_id, command_id),
                         idempotency_key=idempotency_key, request_hash=request_hash(config))


def _unique(tags: list[str] | None) -> list[str] | None:
    """Tags once each, in the order given."""
    return None if tags is None else list(dict.fromkeys(tags))


def outcome_of(undecided: CommandUndecided) -> Pending | NotAccepted:
    if isinstance(undecided, CommandPending):
        return Pending(undecided.job_id)
    return NotAccepted(undecided.job_id)


def correlation_for(request_id: str | None, command_id: str) -> str:
    """The caller's X-Request-Id, else the command's own id."""
    return command_id if request_id is None else request_id


def _exists(view: JobsView, job_id: str) -> bool:
    state = view.get(job_id)
    return state is not None and state.exists


def _replayed(view: JobsView, command: SubmitJob) -> Decided | None:
    """The job a retried Idempotency-Key already made: the decider, asked on the view's
    state, says whether this is the same request (no event) or not (IDEMPOTENCY_CONFLICT)."""
    existing = view.get(command.job_id)
    if existing is None or not existing.exists:
        return None
    raise_if_rejected(decide(existing, command))
    return Decided(existing, replayed=True)
