"""The Python SDK of the public API: signed requests, typed errors, pages, live events.

    from pipai.client import Client
    with Client.from_env() as api:
        job = api.create_job(config, idempotency_key="sweep-42")
        for event in api.stream_events(job["id"]):
            print(event["type"])

`PipaiAuth` signs any httpx request, so other code can talk to the API with a
plain `httpx.Client(auth=PipaiAuth(key, secret))`. Errors come back as
exceptions named after the API's error codes (`NotFound`, `RateLimited`, …),
all subclasses of `PipaiError`.

Retries (docs/api.md): every call retries connection errors, 503 UNAVAILABLE
(nothing was accepted) and 429 (after its Retry-After) with exponential backoff
and full jitter, a bounded number of times. `create_job` always sends an
Idempotency-Key (a fresh one per call unless given) and reuses it on every
retry, so a retry never makes a second job; a 202 (on the log, undecided) is
asked again with the same key until the job is decided. `create_sweep` does the
same for a sweep (docs/api.md, "Sweeps"); its children are ordinary jobs.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from pipai.settings import Settings
from pipai.signing import API_KEY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

Json = dict[str, Any]
JOBS = "/v1/backtest/jobs"
SWEEPS = "/v1/backtest/sweeps"
STREAM_RECONNECTS = 8  # drops in a row, with no event between, before a stream gives up
STREAM_BACKOFF_S = 0.1
JOB_END_EVENTS = frozenset({"JobSucceeded", "JobFailed", "JobCancelled"})


class PipaiAuth(httpx.Auth):
    """Signs each request: timestamp + METHOD + path_with_query + body, HMAC-SHA256.

    Timestamps are strictly increasing per key within the process, across every
    instance: two identical requests in the same millisecond would otherwise carry the
    same signature, and the server refuses the second as a replay (several clients of
    one key in one process, e.g. a stream per thread, reconnect at the same moment).
    """

    requires_request_body = True  # the body is part of what is signed
    _last_ms: dict[str, int] = {}  # api key -> the last timestamp signed with it
    _lock = threading.Lock()

    def __init__(self, api_key: str, secret: str) -> None:
        self.api_key = api_key
        self._secret = secret

    def __repr__(self) -> str:  # never show the secret
        return f"PipaiAuth(api_key={self.api_key!r})"

    def _timestamp(self) -> str:
        with PipaiAuth._lock:
            last = max(int(time.time() * 1000), PipaiAuth._last_ms.get(self.api_key, 0) + 1)
            PipaiAuth._last_ms[self.api_key] = last
            return str(last)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        timestamp = self._timestamp()
        request.headers[API_KEY_HEADER] = self.api_key
        request.headers[TIMESTAMP_HEADER] = timestamp
        request.headers[SIGNATURE_HEADER] = sign(self._secret, timestamp, request.method,
                                                 request.url.raw_path, request.content)
        yield request


# ---- typed errors ----------------------------------------------------------------------

class PipaiError(Exception):
    code = "ERROR"

    def __init__(self, message: str, status: int, code: str | None = None,
                 retry_after_s: float | None = None) -> None:
        super().__init__(f"{code or self.code}: {message}")
        self.message = message
        self.status = status
        self.code = code or self.code
        self.retry_after_s = retry_after_s


class InvalidParameter(PipaiError):
    code = "INVALID_PARAMETER"


class Unauthorized(PipaiError):
    code = "UNAUTHORIZED"


class InvalidSignature(Unauthorized):
    code = "INVALID_SIGNATURE"


class TimestampOutOfWindow(Unauthorized):
    code = "TIMESTAMP_OUT_OF_WINDOW"


class NotFound(PipaiError):
    code = "NOT_FOUND"


class InvalidState(PipaiError):
    code = "INVALID_STATE"


class IdempotencyConflict(PipaiError):
    code = "IDEMPOTENCY_CONFLICT"


class PayloadTooLarge(PipaiError):
    code = "PAYLOAD_TOO_LARGE"


class RateLimited(PipaiError):
    code = "RATE_LIMITED"


class Unavailable(PipaiError):
    """Nothing was accepted; safe to retry (with the same Idempotency-Key)."""

    code = "UNAVAILABLE"


class InternalError(PipaiError):
    code = "INTERNAL"


class Unreachable(PipaiError):
    """No HTTP answer (connection refused, timed out...), after the retries."""

    code = "UNREACHABLE"


class Pending(PipaiError):
    """202: the command is on the event log, but the orchestrator had not decided it
    when the retries ran out. It will be decided once; `job_id` is its job (or sweep:
    `look_up` is the command that shows it)."""

    code = "PENDING"

    def __init__(self, job_id: str, look_up: str = "pipai get") -> None:
        super().__init__(f"{job_id} is on the event log but not decided yet; "
                         f"look it up later ({look_up} {job_id})", 202)
        self.job_id = job_id


ERRORS: dict[str, type[PipaiError]] = {
    cls.code: cls for cls in (InvalidParameter, Unauthorized, InvalidSignature,
                              TimestampOutOfWindow, NotFound, InvalidState, IdempotencyConflict,
                              PayloadTooLarge, RateLimited, Unavailable, InternalError)
}


def raise_for_error(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        code, message = "", response.text[:200] or response.reason_phrase
    cls = ERRORS.get(code, PipaiError)
    raise cls(message, response.status_code, code or f"HTTP_{response.status_code}",
              _retry_after_s(response))


# ---- credentials -----------------------------------------------------------------------

def load_credentials(api_key: str | None = None, secret: str | None = None,
                     data_dir: Path | None = None) -> tuple[str, str]:
    """Explicit values, else PIPAI_API_KEY/PIPAI_API_SECRET, else <data_dir>/demo-key.json."""
    api_key = api_key or os.environ.get("PIPAI_API_KEY")
    secret = secret or os.environ.get("PIPAI_API_SECRET")
    if api_key and secret:
        return api_key, secret
    path = (data_dir or Path(_setting("data_dir"))) / "demo-key.json"
    try:
        saved = json.loads(path.read_text())
        return api_key or saved["api_key"], secret or saved["secret"]
    except (OSError, ValueError, KeyError) as exc:
        raise Unauthorized(f"no credentials: set PIPAI_API_KEY and PIPAI_API_SECRET or run "
                           f"`pipai run` once to create {path}", 401) from exc


def default_url() -> str:
    if url := os.environ.get("PIPAI_API_URL"):
        return url
    return f"http://{_setting('api_host')}:{_setting('api_port')}"


def _setting(field: str) -> str:
    """One setting as the server reads it (its variable, else its default), without
    parsing the rest of the environment: a client needs only the API's address."""
    return os.environ.get(Settings.env_name(field)) or str(Settings.model_fields[field].default)


# ---- retries ---------------------------------------------------------------------------

@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` tries in all; before retry n (from 0), a random wait in
    [0, min(max_delay_s, base_delay_s * 2**n)] (full jitter)."""

    attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    # A 429 is retried after its Retry-After only when that is this short.
    max_retry_after_s: float = 60.0

    def delay_s(self, retry: int) -> float:
        return random.uniform(0.0, min(self.max_delay_s, self.base_delay_s * 2 ** retry))


# Requests that certainly never reached the server: safe to resend whatever they do.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# The terminal statuses (the domain's jobs.statuses.TERMINAL; the SDK may not import it).
TERMINAL = ("done", "failed", "cancelled")


# ---- the client ------------------------------------------------------------------------

class Client:
    def __init__(self, base_url: str, api_key: str, secret: str, timeout_s: float = 30.0,
                 transport: httpx.BaseTransport | None = None,
                 retry: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.http = httpx.Client(base_url=base_url, auth=PipaiAuth(api_key, secret),
                                 timeout=timeout_s, transport=transport)
        self.retry = retry or RetryPolicy()
        self._sleep = sleep

    @classmethod
    def from_env(cls, base_url: str | None = None, api_key: str | None = None,
                 secret: str | None = None, data_dir: Path | None = None) -> Client:
        key, sec = load_credentials(api_key, secret, data_dir)
        return cls(base_url or default_url(), key, sec)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def _request(self, method: str, path: str, *, resend_unanswered: bool = True,
                 retry_statuses: tuple[int, ...] = (503,), **kwargs: Any) -> httpx.Response:
        """One logical call: resent (re-signed) on a connection error, on `retry_statuses`
        and on 429 with a short Retry-After, up to `retry.attempts` tries. A request that
        may have reached the server unanswered (a read timeout) is resent only if
        `resend_unanswered` (it is harmless to repeat)."""
        for attempt in range(self.retry.attempts):
            last = attempt == self.retry.attempts - 1
            wait = self.retry.delay_s(attempt)
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if last or not (resend_unanswered or isinstance(exc, _NOT_SENT)):
                    raise Unreachable(f"{method} {path}: {exc!r}", 0) from exc
                self._sleep(wait)
                continue
            if last or response.status_code not in (*retry_statuses, 429):
                return response
            if response.status_code == 429:
                retry_after = _retry_after_s(response)
                if retry_after is None or retry_after > self.retry.max_retry_after_s:
                    return response
                wait = max(wait, retry_after)
            self._sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        raise_for_error(response)
        return response.json()

    # ---- jobs ----
    def create_job(self, config: Json, idempotency_key: str | None = None) -> Json:
        """The created job (201). Without `idempotency_key`, a fresh one for this call:
        every retry of it sends the same, so the job is created once. A 202 (pending)
        is asked again with the key until decided; then `Pending` if it still is."""
        return self._create(JOBS, config, idempotency_key, "pipai get")

    def _create(self, path: str, body: Json, idempotency_key: str | None,
                look_up: str) -> Json:
        """POST with an Idempotency-Key kept across retries, 202 included (see create_job)."""
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        response = self._request("POST", path, json=body, headers=headers,
                                 retry_statuses=(202, 503))
        raise_for_error(response)
        if response.status_code == 202:
            raise Pending(response.json()["id"], look_up)
        created: Json = response.json()
        return created

    def list_jobs(self, *, status: str | None = None, template_id: str | None = None,
                  from_: str | None = None, to: str | None = None, limit: int = 20,
                  cursor: str | None = None, sweep_id: str | None = None) -> Json:
        """One page: {"data": [...], "next_cursor": str | None}; `sweep_id`: only the
        children of that sweep."""
        params = {"status": status, "template_id": template_id, "from": from_, "to": to,
                  "limit": limit, "cursor": cursor, "sweep_id": sweep_id}
        page: Json = self._call("GET", JOBS, params=_present(params))
        return page

    def iter_jobs(self, *, status: str | None = None, template_id: str | None = None,
                  from_: str | None = None, to: str | None = None,
                  page_size: int = 100, sweep_id: str | None = None) -> Iterator[Json]:
        """Every matching job, newest first, following next_cursor."""
        return _walk(lambda cursor: self.list_jobs(
            status=status, template_id=template_id, from_=from_, to=to, limit=page_size,
            cursor=cursor, sweep_id=sweep_id))

    def get_job(self, job_id: str) -> Json:
        job: Json = self._call("GET", f"{JOBS}/{job_id}")
        return job

    def get_result(self, job_id: str) -> Json:
        result: Json = self._call("GET", f"{JOBS}/{job_id}/result")
        return result

    def cancel_job(self, job_id: str, reason: str | None = None,
                   pending_timeout_s: float = 60.0) -> Json:
        """The job after the cancel. A 202 (cancel on the log, undecided) is followed
        until the job is terminal (`Pending` after `pending_timeout_s`). Not resent after
        an unanswered request: a cancel that did land would make the retry a 409."""
        body = {"reason": reason} if reason is not None else None
        response = self._request("POST", f"{JOBS}/{job_id}/cancel", json=body,
                                 resend_unanswered=False)
        raise_for_error(response)
        if response.status_code == 202:
            return self._until_terminal(job_id, pending_timeout_s)
        job: Json = response.json()
        return job

    def _until_terminal(self, job_id: str, timeout_s: float) -> Json:
        deadline = time.monotonic() + timeout_s
        retry = 0
        while (job := self.get_job(job_id))["status"] not in TERMINAL:
            if time.monotonic() > deadline:
                raise Pending(job_id)
            self._sleep(min(2.0, self.retry.delay_s(retry) + 0.1))  # polling interval
            retry += 1
        return job

    def events(self, job_id: str) -> list[Json]:
        return list(self._call("GET", f"{JOBS}/{job_id}/events")["data"])

    def stream_events(self, job_id: str, last_event_id: int | None = None,
                      max_reconnects: int = STREAM_RECONNECTS) -> Iterator[Json]:
        """The job's events as Server-Sent Events: history first (after `last_event_id`,
        a seq, if given), then live until it ends. A dropped connection is resumed from
        the last event yielded (`Last-Event-ID`), so each event comes once, in order;
        `max_reconnects` drops in a row without an event in between raise the last
        transport error. The server ends the stream only once the job has ended."""
        after = last_event_id
        drops = 0
        while True:
            headers = {"Last-Event-ID": str(after)} if after is not None else {}
            try:
                with self.http.stream("GET", f"{JOBS}/{job_id}/events",
                                      params={"stream": "true"}, headers=headers,
                                      timeout=httpx.Timeout(30.0, read=60.0)) as response:
                    if not response.is_success:
                        response.read()
                        raise_for_error(response)
                    heard, ended = False, False
                    for event in parse_sse(response.iter_lines()):
                        after, drops, heard = int(event["seq"]), 0, True
                        ended = event.get("type") in JOB_END_EVENTS
                        yield event
                # A stream ends when the job has; one that ended before its end event
                # (a server going down cleanly) is asked again, from where it stopped.
                if ended or not heard:
                    return
            except httpx.TransportError:
                drops += 1
                if drops > max_reconnects:
                    raise
                time.sleep(min(STREAM_BACKOFF_S * 2 ** (drops - 1), 5.0))  # backoff

    def templates(self) -> list[Json]:
        return list(self._call("GET", "/v1/backtest/templates")["data"])

    # ---- sweeps ----
    def create_sweep(self, request: Json, idempotency_key: str | None = None) -> Json:
        """The created sweep (201): `request` is the body of Create Sweep (base, grid or
        random, objective, ...). The Idempotency-Key and 202 handling of create_job: a
        retry never makes a second sweep; `Pending` (its `job_id` the sweep's id) if the
        sweep is still undecided after the retries."""
        return self._create(SWEEPS, request, idempotency_key, "pipai sweep get")

    def get_sweep(self, sweep_id: str) -> Json:
        sweep: Json = self._call("GET", f"{SWEEPS}/{sweep_id}")
        return sweep

    def list_sweeps(self, *, status: str | None = None, template_id: str | None = None,
                    from_: str | None = None, to: str | None = None, limit: int = 20,
                    cursor: str | None = None) -> Json:
        """One page of the caller's sweeps, newest first: {"data", "next_cursor"}."""
        params = {"status": status, "template_id": template_id, "from": from_, "to": to,
                  "limit": limit, "cursor": cursor}
        page: Json = self._call("GET", SWEEPS, params=_present(params))
        return page

    def iter_sweeps(self, *, status: str | None = None, template_id: str | None = None,
                    from_: str | None = None, to: str | None = None,
                    page_size: int = 100) -> Iterator[Json]:
        """Every matching sweep, newest first, following next_cursor."""
        return _walk(lambda cursor: self.list_sweeps(
            status=status, template_id=template_id, from_=from_, to=to, limit=page_size,
            cursor=cursor))

    def cancel_sweep(self, sweep_id: str, reason: str | None = None,
                     pending_timeout_s: float = 60.0) -> Json:
        """The sweep after the cancel (its children not yet terminal are cancelled with
        it); `InvalidState` if it had already ended. As cancel_job: a 202 is followed
        until the sweep has finished, and an unanswered request is not resent."""
        body = {"reason": reason} if reason is not None else None
        response = self._request("POST", f"{SWEEPS}/{sweep_id}/cancel", json=body,
                                 resend_unanswered=False)
        raise_for_error(response)
        if response.status_code == 202:
            try:
                return self.wait_sweep(sweep_id, pending_timeout_s)
            except TimeoutError:
                raise Pending(sweep_id, "pipai sweep get") from None
        sweep: Json = response.json()
        return sweep

    def leaderboard(self, sweep_id: str, limit: int = 20, cursor: str | None = None) -> Json:
        """One page of the done children within the constraints, best first:
        {"sweep_id", "objective", "data": [{rank, job_id, values, objective, metrics}],
        "next_cursor"}. Readable while the sweep runs."""
        page: Json = self._call("GET", f"{SWEEPS}/{sweep_id}/leaderboard",
                                params=_present({"limit": limit, "cursor": cursor}))
        return page

    def iter_leaderboard(self, sweep_id: str, page_size: int = 100) -> Iterator[Json]:
        """Every leaderboard row, best first, following next_cursor."""
        return _walk(lambda cursor: self.leaderboard(sweep_id, page_size, cursor))

    def walk_forward(self, sweep_id: str) -> Json:
        """A walk-forward sweep's report: {"windows": [{window, status, train, test,
        training, chosen, in_sample, test_job_id, out_of_sample, scale}], "out_of_sample":
        {windows, equity_curve, metrics}, ...}; `InvalidState` for a sweep without
        walk_forward. Readable while the sweep runs (docs/api.md, "Walk-forward")."""
        report: Json = self._call("GET", f"{SWEEPS}/{sweep_id}/walk_forward")
        return report

    def sweep_children(self, sweep_id: str, status: str | None = None,
                       page_size: int = 100) -> Iterator[Json]:
        """The sweep's child jobs (ordinary job objects), newest first."""
        return self.iter_jobs(status=status, sweep_id=sweep_id, page_size=page_size)

    def wait_sweep(self, sweep_id: str, timeout_s: float = 600.0, poll_s: float = 0.5) -> Json:
        """Poll the sweep until it has ended (`finished_at` set: done, failed or
        cancelled); TimeoutError after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while (sweep := self.get_sweep(sweep_id)).get("finished_at") is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"sweep {sweep_id} still {sweep['status']} after "
                                   f"{timeout_s}s")
            self._sleep(poll_s)
        return sweep

    def wait(self, job_id: str, timeout_s: float = 300.0) -> Json:
        """Follow the job's events until it is terminal; returns the final job object."""
        deadline = time.monotonic() + timeout_s
        job = self.get_job(job_id)
        while job["status"] not in TERMINAL:
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout_s}s")
            for _ in self.stream_events(job_id):
                pass
            job = self.get_job(job_id)
        return job


def _present(params: dict[str, Any]) -> dict[str, Any]:
    """The query parameters that were given (None means "not sent")."""
    return {k: v for k, v in params.items() if v is not None}


def _walk(fetch: Callable[[str | None], Json]) -> Iterator[Json]:
    """The rows of every page, from the first (cursor None) along next_cursor."""
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        yield from page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            return


def _retry_after_s(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.isdigit() else None


def parse_sse(lines: Iterator[str]) -> Iterator[Json]:
    """Decode a text/event-stream: one JSON object per event (comments are skipped)."""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield json.loads("\n".join(data))
                data = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield json.loads("\n".join(data))
