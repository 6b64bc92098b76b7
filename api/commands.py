"""Sends commands to `commands` and waits for the orchestrator's decision.

Read-your-writes: a waiter is registered under the command id before the
command is produced; the projection thread resolves it when an event caused by
that command has been applied to the view. A submit with an Idempotency-Key is
also resolved by the job's JobAccepted whichever command caused it: when two
retries race, the orchestrator decides nothing for the loser (an idempotent
retry), which must not leave it waiting. If the broker does not acknowledge
the command in time, the producer's queue is purged so that nothing is
half-accepted, and the caller answers 503 UNAVAILABLE.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaException, Producer

from api.errors import ApiError
from orchestrator.decider import JobState
from orchestrator.messages import CancelJob, Event, JobAccepted, SubmitJob, to_record
from pipai.kafka_config import producer_config
from pipai.log import get_logger
from pipai.settings import Settings
from pipai.topics import Topics
from schemas.codec import Codec

log = get_logger("api.commands")


class CommandBus:
    def __init__(self, settings: Settings, codec: Codec) -> None:
        self.settings = settings
        self.codec = codec
        self.topic = Topics.for_prefix(settings.topic_prefix).commands
        self.producer = Producer(producer_config(
            settings, **{"message.timeout.ms": 5000, "linger.ms": 0}))
        self._waiters: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Future[Event]]] = {}
        self._submits: dict[str, set[str]] = {}  # job_id -> idempotent submits waiting
        self._lock = threading.Lock()

    def close(self) -> None:
        self.producer.flush(5)

    # called on the projection thread after each applied batch
    def on_applied(self, events: list[Event], _changed: list[JobState]) -> None:
        for event in events:
            with self._lock:
                causes = {event.causation_id}
                if isinstance(event, JobAccepted):
                    causes |= self._submits.pop(event.job_id, set())
                waiters = [w for c in causes if (w := self._waiters.pop(c, None)) is not None]
            for loop, future in waiters:
                loop.call_soon_threadsafe(_resolve, future, event)

    async def send(self, command: SubmitJob | CancelJob,
                   already_decided: Callable[[], bool] | None = None) -> Event | None:
        """The event that decided `command`; None if `already_decided()` held once the
        waiter was in place (then nothing is sent: the view already has the answer)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Event] = loop.create_future()
        idempotent = isinstance(command, SubmitJob) and command.idempotency_key is not None
        with self._lock:
            self._waiters[command.command_id] = (loop, future)
            if idempotent:
                self._submits.setdefault(command.job_id, set()).add(command.command_id)
        try:
            # Checked after registering, so an event applied from now on still reaches us.
            if already_decided is not None and already_decided():
                return None
            await loop.run_in_executor(None, self._produce, command)
            return await asyncio.wait_for(future, self.settings.command_timeout_s)
        except TimeoutError:
            raise ApiError("UNAVAILABLE", "the orchestrator did not decide in time; "
                           "retry with the same Idempotency-Key") from None
        finally:
            with self._lock:
                self._waiters.pop(command.command_id, None)
                if idempotent and (pending := self._submits.get(command.job_id)) is not None:
                    pending.discard(command.command_id)
                    if not pending:
                        del self._submits[command.job_id]

    def _produce(self, command: SubmitJob | CancelJob) -> None:
        outcome: dict[str, Any] = {}

        def delivered(err: Any, _msg: Any) -> None:
            outcome["error"] = err

        try:
            self.producer.produce(self.topic, key=command.job_id.encode(),
                                  value=self.codec.encode(*to_record(command)),
                                  on_delivery=delivered)
        except (KafkaException, BufferError) as exc:
            raise ApiError("UNAVAILABLE",
                           "the event log is unavailable; nothing was accepted") from exc
        self.producer.flush(6)
        if "error" not in outcome or outcome["error"] is not None:
            self.producer.purge()
            log.warning("command_not_delivered", command_id=command.command_id,
                        error=str(outcome.get("error", "timeout")))
            raise ApiError("UNAVAILABLE", "the event log is unavailable; nothing was accepted")


def _resolve(future: asyncio.Future[Event], event: Event) -> None:
    if not future.done():
        future.set_result(event)
