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
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import httpx

from api.signing import API_KEY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

Json = dict[str, Any]
JOBS = "/v1/backtest/jobs"


class PipaiAuth(httpx.Auth):
    """Signs each request: timestamp + METHOD + path_with_query + body, HMAC-SHA256.

    Timestamps are strictly increasing per instance: two identical requests in
    the same millisecond would otherwise carry the same signature, and the
    server refuses the second as a replay.
    """

    requires_request_body = True  # the body is part of what is signed

    def __init__(self, api_key: str, secret: str) -> None:
        self.api_key = api_key
        self._secret = secret
        self._last_ms = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never show the secret
        return f"PipaiAuth(api_key={self.api_key!r})"

    def _timestamp(self) -> str:
        with self._lock:
            self._last_ms = max(int(time.time() * 1000), self._last_ms + 1)
            return str(self._last_ms)

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
    retry = response.headers.get("Retry-After")
    cls = ERRORS.get(code, PipaiError)
    raise cls(message, response.status_code, code or f"HTTP_{response.status_code}",
              float(retry) if retry and retry.isdigit() else None)


# ---- credentials -----------------------------------------------------------------------

def load_credentials(api_key: str | None = None, secret: str | None = None,
                     data_dir: Path | None = None) -> tuple[str, str]:
    """Explicit values, else PIPAI_API_KEY/PIPAI_API_SECRET, else <data_dir>/demo-key.json."""
    api_key = api_key or os.environ.get("PIPAI_API_KEY")
    secret = secret or os.environ.get("PIPAI_API_SECRET")
    if api_key and secret:
        return api_key, secret
    path = (data_dir or Path(os.environ.get("PIPAI_DATA_DIR", ".pipai"))) / "demo-key.json"
    try:
        saved = json.loads(path.read_text())
        return api_key or saved["api_key"], secret or saved["secret"]
    except (OSError, ValueError, KeyError) as exc:
        raise Unauthorized(f"no credentials: set PIPAI_API_KEY and PIPAI_API_SECRET or run "
                           f"`pipai run` once to create {path}", 401) from exc


def default_url() -> str:
    if url := os.environ.get("PIPAI_API_URL"):
        return url
    host = os.environ.get("PIPAI_API_HOST", "127.0.0.1")
    return f"http://{host}:{os.environ.get('PIPAI_API_PORT', '8000')}"


# ---- the client ------------------------------------------------------------------------

class Client:
    def __init__(self, base_url: str, api_key: str, secret: str, timeout_s: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.http = httpx.Client(base_url=base_url, auth=PipaiAuth(api_key, secret),
                                 timeout=timeout_s, transport=transport)

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

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        raise_for_error(response)
        return response.json()

    # ---- jobs ----
    def create_job(self, config: Json, idempotency_key: str | None = None) -> Json:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        result: Json = self._call("POST", JOBS, json=config, headers=headers)
        return result

    def list_jobs(self, *, status: str | None = None, template_id: str | None = None,
                  from_: str | None = None, to: str | None = None, limit: int = 20,
                  cursor: str | None = None) -> Json:
        """One page: {"data": [...], "next_cursor": str | None}."""
        params = {"status": status, "template_id": template_id, "from": from_, "to": to,
                  "limit": limit, "cursor": cursor}
        page: Json = self._call("GET", JOBS, params={k: v for k, v in params.items()
                                                     if v is not None})
        return page

    def iter_jobs(self, *, status: str | None = None, template_id: str | None = None,
                  from_: str | None = None, to: str | None = None,
                  page_size: int = 100) -> Iterator[Json]:
        """Every matching job, newest first, following next_cursor."""
        cursor: str | None = None
        while True:
            page = self.list_jobs(status=status, template_id=template_id, from_=from_, to=to,
                                  limit=page_size, cursor=cursor)
            yield from page["data"]
            cursor = page["next_cursor"]
            if cursor is None:
                return

    def get_job(self, job_id: str) -> Json:
        job: Json = self._call("GET", f"{JOBS}/{job_id}")
        return job

    def get_result(self, job_id: str) -> Json:
        result: Json = self._call("GET", f"{JOBS}/{job_id}/result")
        return result

    def cancel_job(self, job_id: str, reason: str | None = None) -> Json:
        body = {"reason": reason} if reason is not None else None
        job: Json = self._call("POST", f"{JOBS}/{job_id}/cancel", json=body)
        return job

    def events(self, job_id: str) -> list[Json]:
        return list(self._call("GET", f"{JOBS}/{job_id}/events")["data"])

    def stream_events(self, job_id: str) -> Iterator[Json]:
        """The job's events as Server-Sent Events: history first, then live until it ends."""
        with self.http.stream("GET", f"{JOBS}/{job_id}/events", params={"stream": "true"},
                              timeout=httpx.Timeout(30.0, read=60.0)) as response:
            if not response.is_success:
                response.read()
                raise_for_error(response)
            yield from parse_sse(response.iter_lines())

    def templates(self) -> list[Json]:
        return list(self._call("GET", "/v1/backtest/templates")["data"])

    def wait(self, job_id: str, timeout_s: float = 300.0) -> Json:
        """Follow the job's events until it is terminal; returns the final job object."""
        deadline = time.monotonic() + timeout_s
        job = self.get_job(job_id)
        while job["status"] not in ("done", "failed", "cancelled"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout_s}s")
            for _ in self.stream_events(job_id):
                pass
            job = self.get_job(job_id)
        return job


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
