"""Sends commands to `commands` and waits for the orchestrator's decision.

Read-your-writes: a waiter is registered under the command id before the
command is produced; the projection thread resolves it when an event caused by
that command has been applied to the view. A submit with an Idempotency-Key is
also resolved by the job's JobAccepted whichever command caused it: when two
retries race, the orchestrator decides nothing for the loser (an idempotent
retry), which must not leave it waiting.

Answers (docs/api.md): the decision if it comes within the command deadline;
CommandNotOnLog (503) only when the command is known not to be on the log
(api/command_log.py); otherwise CommandPending (202): it is on the log, or may
be, and undecided. A command that may be on the log is re-sent, same command id,
until the broker acknowledges it (the decider ignores a command id it has
already decided), so a 202 never leaves a command that is nowhere.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from api.command_log import CommandLog, Delivery
from jobs.decider import JobState
from jobs.messages import (
    Command,
    Event,
    JobAccepted,
    SubmitJob,
    SubmitSweep,
    SweepAccepted,
    aggregate_of,
)
from pipai.kafka.codec import MessageCodec
from pipai.log import get_logger
from pipai.settings import Settings
from pipai.topics import Topics

log = get_logger("api.commands")
# How long a command that may not be on the log is re-sent, and the backoff cap.
RESEND_FOR_S = 600.0
RESEND_MAX_DELAY_S = 30.0


class CommandUndecided(Exception):
    """No decision came for the command about job `job_id`."""

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.job_id = job_id


class CommandPending(CommandUndecided):
    """The command is on the log (or is being re-sent until it is) but undecided in time."""


class CommandNotOnLog(CommandUndecided):
    """The command is known not to be on the log: nothing was accepted."""


class CommandBus:
    def __init__(self, settings: Settings, codec: MessageCodec) -> None:
        self.settings = settings
        self.codec = codec
        self.log = CommandLog(settings, Topics.for_prefix(settings.topic_prefix).commands)
        self._waiters: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Future[Event]]] = {}
        self._submits: dict[str, set[str]] = {}  # job_id -> idempotent submits waiting
        self._lock = threading.Lock()
        self._resending: set[asyncio.Task[None]] = set()

    def close(self) -> None:
        if self._resending:  # answered 202 but maybe not on the log: say so
            log.error("command_resends_abandoned", count=len(self._resending))
        for task in self._resending:
            task.cancel()
        self.log.close()

    # called on the projection thread after each applied batch
    def on_applied(self, events: list[Event], _changed: list[JobState]) -> None:
        for event in events:
            with self._lock:
                causes = {event.causation_id}
                if isinstance(event, JobAccepted | SweepAccepted):
                    causes |= self._submits.pop(event.job_id, set())
                waiters = [w for c in causes if (w := self._waiters.pop(c, None)) is not None]
            for loop, future in waiters:
                loop.call_soon_threadsafe(_resolve, future, event)

    async def send(self, command: Command,
                   already_decided: Callable[[], bool] | None = None) -> Event | None:
        """The event that decided `command`; None if `already_decided()` held once the
        waiter was in place (then nothing is sent: the view already has the answer).
        Raises CommandNotOnLog when the command is known not to be on the log,
        CommandPending when it is (or may be) but was not decided in time."""
        deadline = time.monotonic() + self.settings.command_timeout_s
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Event] = loop.create_future()
        idempotent = (isinstance(command, SubmitJob | SubmitSweep)
                      and command.idempotency_key is not None)
        aggregate = aggregate_of(command)
        with self._lock:
            self._waiters[command.command_id] = (loop, future)
            if idempotent:
                self._submits.setdefault(aggregate, set()).add(command.command_id)
        try:
            # Checked after registering, so an event applied from now on still reaches us.
            if already_decided is not None and already_decided():
                return None
            delivery = await self._append(command)
            if delivery is Delivery.NOT_ON_LOG and not future.done():
                raise CommandNotOnLog(aggregate)
            if delivery is Delivery.MAYBE:
                self._resend_until_on_log(command)
            try:
                return await asyncio.wait_for(future, max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                log.warning("command_pending", command_id=command.command_id,
                            job_id=aggregate, delivery=delivery.value)
                raise CommandPending(aggregate) from None
        finally:
            with self._lock:
                self._waiters.pop(command.command_id, None)
                if idempotent and (pending := self._submits.get(aggregate)) is not None:
                    pending.discard(command.command_id)
                    if not pending:
                        del self._submits[aggregate]

    async def _append(self, command: Command) -> Delivery:
        delivery = await self.log.append(aggregate_of(command).encode(),
                                         self.codec.encode(command))
        if delivery is not Delivery.ON_LOG:
            log.warning("command_not_acknowledged", command_id=command.command_id,
                        job_id=aggregate_of(command), delivery=delivery.value)
        return delivery

    def _resend_until_on_log(self, command: Command) -> None:
        task = asyncio.get_running_loop().create_task(self._resend(command))
        self._resending.add(task)
        task.add_done_callback(self._resending.discard)

    async def _resend(self, command: Command) -> None:
        give_up = time.monotonic() + RESEND_FOR_S
        delay = 0.5
        while time.monotonic() < give_up:
            await asyncio.sleep(delay)  # backoff between attempts, not synchronisation
            if await self._append(command) is Delivery.ON_LOG:
                log.info("command_resent", command_id=command.command_id,
                         job_id=aggregate_of(command))
                return
            delay = min(delay * 2, RESEND_MAX_DELAY_S)
        log.error("command_resend_gave_up", command_id=command.command_id,
                  job_id=aggregate_of(command), seconds=RESEND_FOR_S)


def _resolve(future: asyncio.Future[Event], event: Event) -> None:
    if not future.done():
        future.set_result(event)
