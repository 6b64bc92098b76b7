"""This API instance's replica of the jobs: the RocksDB view and the projection filling it.

The view is served only once the projection has caught up with the event log
(docs/api.md, "Errors"): before that it may lack any job, so reads answer 503
rather than a 404 or an empty page. The check is made when a use case first
needs the view, not when the request arrives, so a malformed request is still
answered 400 during the catch-up. `changes` lets an SSE stream wait for a job's
next events instead of polling the view.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import orjson

from api.auth import Caller
from api.documents import JobDocuments
from api.errors import ApiError
from api.presenters import parse_iso_ms
from engine.results import CURVE_IN_PAGES, summary_curve
from jobs.decider import JobState, job_not_found
from jobs.messages import Event
from jobs.sweep_state import is_sweep_id
from projections.jobs_view import JobsView
from projections.runner import Listener

# How long Get Result waits for a done job's result document (it travels on its own topic).
RESULT_WAIT_S = 5.0
RESULT_POLL_S = 0.05
# A done job without result pages this long after it finished predates the pages.
PAGES_RECENT_MS = 60_000
_CURVE_IN_PAGES = b'"equity_curve":' + orjson.dumps(CURVE_IN_PAGES)


class Projection(Protocol):
    """What the API needs of projections/runner.py's ProjectionRunner."""

    @property
    def caught_up(self) -> bool: ...

    @property
    def listeners(self) -> list[Listener]: ...


@dataclass(frozen=True)
class JobsReplica:
    view: JobsView
    projection: Projection
    documents: JobDocuments

    def served(self) -> JobsView:
        """The view, once it has caught up with the log; before that it may lack any job."""
        if not self.projection.caught_up:
            raise ApiError("UNAVAILABLE", "this API instance is catching up with the event "
                           "log; retry shortly", headers={"Retry-After": "1"})
        return self.view

    def owned(self, caller: Caller, job_id: str) -> JobState:
        """The caller's job; another owner's job is answered exactly like a missing one."""
        return owned(self.served(), caller, job_id)

    def owned_document(self, caller: Caller, job_id: str) -> bytes:
        """The caller's job object as JSON (rendered once per state, api/documents.py)."""
        raw = None if is_sweep_id(job_id) else self.served().raw_record(job_id)
        rendered = None if raw is None else self.documents.rendered(raw)
        if rendered is None or not rendered.exists or rendered.owner != caller.owner:
            raise ApiError("NOT_FOUND", job_not_found(job_id))
        return rendered.document

    def documents_of(self, raw_records: list[bytes]) -> list[bytes]:
        return [self.documents.rendered(raw).document for raw in raw_records]

    async def result(self, job_id: str, attempt: int) -> bytes:
        """The result document of a done job's attempt, waiting briefly for it: the result
        and the final event travel on different topics. A document whose curve came as
        binary pages gets the summary curve formatted from them in its place."""
        kept = self.documents.result(job_id, attempt)
        if kept is not None:
            return kept
        deadline = time.monotonic() + RESULT_WAIT_S
        while (document := self.view.result(job_id, attempt)) is None:
            _wait_until(deadline)
            await asyncio.sleep(RESULT_POLL_S)
        if _CURVE_IN_PAGES not in document:
            return document
        while (curve := self.view.equity_arrays(job_id, attempt)) is None:
            _wait_until(deadline)  # the pages travel under their own keys
            await asyncio.sleep(RESULT_POLL_S)
        rows = orjson.dumps(summary_curve(*curve))
        document = document.replace(_CURVE_IN_PAGES, b'"equity_curve":' + rows, 1)
        self.documents.keep_result(job_id, attempt, document)
        return document

    async def curve(self, state: JobState) -> tuple[np.ndarray, np.ndarray]:
        """A done job's whole equity curve as (times ms, equity) arrays."""
        arrays = self.view.equity_arrays(state.job_id, state.attempt)
        if arrays is not None:
            return arrays
        rows = await self.full_rows(state, "equity")
        return (np.asarray([parse_iso_ms(p["time"]) for p in rows], dtype=np.int64),
                np.asarray([float(p["equity"]) for p in rows], dtype=np.float64))

    async def result_pages(self, job_id: str, attempt: int, kind: str,
                           finished_at_ms: int) -> list[bytes] | None:
        """Every page (a JSON array of rows) of a done job's full `kind` list ("trades" or
        "equity"), waiting briefly for them if the job just finished (the pages travel
        under their own keys, so on other partitions than the summary). None for a
        result made before results had pages: its summary document is all there is."""
        recent = time.time() * 1000 - finished_at_ms < PAGES_RECENT_MS
        deadline = time.monotonic() + (RESULT_WAIT_S if recent else 0.0)
        while True:
            first = self.view.result_part(job_id, attempt, kind, 0)
            if first is not None:
                pages = [first[1]]
                for index in range(1, first[0]):
                    page = self.view.result_part(job_id, attempt, kind, index)
                    if page is None:
                        break
                    pages.append(page[1])
                if len(pages) == first[0]:
                    return pages
            if time.monotonic() > deadline and first is None:
                return None
            _wait_until(deadline)
            await asyncio.sleep(RESULT_POLL_S)

    async def full_rows(self, state: JobState, kind: str) -> list[dict[str, Any]]:
        """A done job's whole `kind` list ("trades" or "equity") as rows; a result made
        before results had pages: its summary document's (at most 10,000 rows)."""
        pages = await self.result_pages(state.job_id, state.attempt, kind,
                                        state.finished_at or 0)
        if pages is None:
            summary = orjson.loads(await self.result(state.job_id, state.attempt))
            rows: list[dict[str, Any]] = summary["trades" if kind == "trades"
                                                 else "equity_curve"]
            return rows
        return [row for page in pages for row in orjson.loads(page)]

    @contextmanager
    def changes(self, job_id: str) -> Iterator[asyncio.Queue[None]]:
        """A queue that gets an item whenever events of `job_id` have been applied (called
        on the event loop; the projection thread hands the news over thread-safely)."""
        queue: asyncio.Queue[None] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def on_applied(events: list[Event], _changed: list[JobState]) -> None:
            if any(e.job_id == job_id for e in events):
                loop.call_soon_threadsafe(queue.put_nowait, None)

        self.projection.listeners.append(on_applied)
        try:
            yield queue
        finally:
            self.projection.listeners.remove(on_applied)


def _wait_until(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise ApiError("UNAVAILABLE", "the result is not yet available; retry shortly")


def owned(view: JobsView, caller: Caller, job_id: str) -> JobState:
    """The caller's job (a sweep's id is no job's: NOT_FOUND, as for any unknown id)."""
    state = view.get(job_id)
    if not isinstance(state, JobState) or not state.exists or state.owner != caller.owner:
        raise ApiError("NOT_FOUND", job_not_found(job_id))
    return state
