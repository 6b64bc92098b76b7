"""The API in-process, without a broker: its JobsView is filled with synthetic events.

The app's lifespan (projection thread, producer) is not started: read endpoints,
signing and weights need neither. Commands go to `DecidingCommandBus`, a fake of
our own command-bus interface (api/service.py's CommandSender) that decides them
with the real decider and applies the events to the view, as the orchestrator
and the projection would; the live path is exercised in tests/integration.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.commands import CommandNotOnLog, CommandPending
from jobs.decider import decide, initial_state
from jobs.messages import (
    Command,
    Event,
    JobAccepted,
    JobCancelled,
    JobProgressed,
    JobStarted,
    JobSucceeded,
    Metrics,
    event_id_for,
)
from pipai.client import PipaiAuth
from pipai.keys import ApiKey, KeyStore
from pipai.settings import Settings
from projections.jobs_view import JobsView

BASE = "http://127.0.0.1"


def ms(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


@dataclass
class JobWriter:
    """Appends a job's events to the view the way the projection would."""

    view: JobsView
    seqs: dict[str, int] = field(default_factory=dict)

    def _env(self, job_id: str, at: int) -> dict[str, Any]:
        seq = self.seqs.get(job_id, 0) + 1
        self.seqs[job_id] = seq
        return {"event_id": event_id_for(job_id, seq), "job_id": job_id, "seq": seq,
                "occurred_at": at, "causation_id": f"c-{job_id}-{seq}",
                "correlation_id": f"corr-{job_id}"}

    def apply(self, *events: Event) -> None:
        self.view.apply(list(events), [], {})

    def accept(self, job_id: str, owner: str, config: dict[str, Any], submitted_at: int,
               idempotency_key: str | None = None) -> None:
        self.apply(JobAccepted(**self._env(job_id, submitted_at), owner=owner,
                               config_json=orjson.dumps(config).decode(),
                               submitted_at=submitted_at, idempotency_key=idempotency_key,
                               request_hash="h-" + job_id))

    def start(self, job_id: str, at: int) -> None:
        self.apply(JobStarted(**self._env(job_id, at), attempt=1, worker_id="w1", run_id="r1"))

    def progress(self, job_id: str, at: int, progress: float) -> None:
        self.apply(JobProgressed(**self._env(job_id, at), attempt=1, progress=progress))

    def succeed(self, job_id: str, at: int, metrics: dict[str, Any],
                result: dict[str, Any] | None = None) -> None:
        self.apply(JobSucceeded(**self._env(job_id, at), attempt=1, metrics=Metrics(**metrics),
                                result_ref=f"{job_id}/1"))
        if result is not None:
            self.view.apply([], [(job_id, 1, orjson.dumps(result))], {})

    def cancel(self, job_id: str, at: int, progress: float, reason: str | None = None) -> None:
        self.apply(JobCancelled(**self._env(job_id, at), progress=progress, reason=reason))


@dataclass
class DecidingCommandBus:
    """The command bus without Kafka: `decide` mode decides each command at once with the
    decider and applies the events to the view; `pending` and `not_on_log` answer as the
    real bus does when no decision comes. `before_decide` runs first (e.g. a racing retry)."""

    view: JobsView
    mode: Literal["decide", "pending", "not_on_log"] = "decide"
    sent: list[Command] = field(default_factory=list)
    before_decide: list[Command] = field(default_factory=list)

    async def send(self, command: Command,
                   already_decided: Callable[[], bool] | None = None) -> Event | None:
        if already_decided is not None and already_decided():
            return None
        self.sent.append(command)
        if self.mode == "pending":
            raise CommandPending(command.job_id)
        if self.mode == "not_on_log":
            raise CommandNotOnLog(command.job_id)
        decided = [self.decide(c) for c in [*self.before_decide, command]]
        if not decided[-1] and not decided[0]:
            raise CommandPending(command.job_id)  # nothing decided: the real bus times out
        # An idempotent submit is answered by its job's JobAccepted, whichever command caused it.
        return (decided[-1] or decided[0])[0]

    def decide(self, command: Command) -> list[Event]:
        events = decide(self.view.get(command.job_id) or initial_state(command.job_id), command)
        self.view.apply(events, [], {})
        return events


@dataclass
class ApiHarness:
    app: FastAPI
    view: JobsView
    jobs: JobWriter
    key: ApiKey
    other: ApiKey
    keys: KeyStore
    client: TestClient
    commands: DecidingCommandBus

    def signed_client(self, key: ApiKey) -> TestClient:
        return signed_client(self.app, key)


def signed_client(app: FastAPI, key: ApiKey) -> TestClient:
    client = TestClient(app, base_url=BASE)
    client.auth = PipaiAuth(key.api_key, key.secret)
    return client


def make_harness(tmp_path: Path, **settings: Any) -> Iterator[ApiHarness]:
    config = Settings(data_dir=tmp_path).with_(**settings)
    app = create_app(config)
    view = JobsView(tmp_path / "view")
    app.state.view = view
    # SSE registers a listener with the projection thread; here events are applied by hand,
    # and the view counts as caught up with the log (a test may say otherwise).
    app.state.projection = SimpleNamespace(listeners=[], caught_up=True)
    app.state.commands = commands = DecidingCommandBus(view)
    keys: KeyStore = app.state.keys
    key, other = keys.create("alice"), keys.create("mallory")
    client = signed_client(app, key)
    try:
        yield ApiHarness(app, view, JobWriter(view), key, other, keys, client, commands)
    finally:
        client.close()
        view.close()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[ApiHarness]:
    yield from make_harness(tmp_path)
