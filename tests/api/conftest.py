"""The API in-process, without a broker: its JobsView is filled with synthetic events.

The app's lifespan (projection thread, producer) is not started: read endpoints,
signing and weights need neither. Command endpoints are exercised against the
live stack in tests/integration.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from jobs.messages import (
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
class ApiHarness:
    app: FastAPI
    view: JobsView
    jobs: JobWriter
    key: ApiKey
    other: ApiKey
    keys: KeyStore
    client: TestClient

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
    keys: KeyStore = app.state.keys
    key, other = keys.create("alice"), keys.create("mallory")
    client = signed_client(app, key)
    try:
        yield ApiHarness(app, view, JobWriter(view), key, other, keys, client)
    finally:
        client.close()
        view.close()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[ApiHarness]:
    yield from make_harness(tmp_path)
