"""A steady, bounded-rate load against both API instances: creates (half of them with an
Idempotency-Key, retried with the same key after a 503 or a lost connection, as the SDK
does) and cancels of some of the created jobs. Every answer is recorded as it came
(`Create`, `Cancel`), for the invariants to hold against the log.

Each request carries a unique X-Request-Id, which the API uses as the command's
correlation id: that is how a 503 is matched against the log.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from cli.chaos.invariants import Cancel, Create
from pipai.client import JOBS, PipaiAuth
from pipai.log import get_logger

log = get_logger("cli.chaos.load")


def job_config() -> dict[str, Any]:
    """A small grid backtest (two months of 1h bars): the engine runs it in well under 1 s."""
    return {
        "template_id": "tpl_grid",
        "params": {"grid_levels": 10, "upper_price": "110000", "lower_price": "85000"},
        "symbols": ["BTCUSDT"], "timeframe": "1h",
        "start": "2025-01-01T00:00:00Z", "end": "2025-03-01T00:00:00Z",
        "capital": "10000.00", "leverage": 1, "fee_model": "fixed_bps", "fee_bps": "5",
    }


@dataclass
class LoadShape:
    creates_per_s: float = 2.0
    idempotent_share: float = 0.5
    cancel_share: float = 0.3
    cancel_within_s: float = 1.5  # a cancel follows its create after up to this long
    retries: int = 2  # of an idempotent create answered 503 or not answered
    retry_after_s: float = 1.0
    timeout_s: float = 20.0


@dataclass
class Load:
    urls: list[str]
    api_key: str
    secret: str
    seed: str
    shape: LoadShape = field(default_factory=LoadShape)
    creates: list[Create] = field(default_factory=list)
    cancels: list[Cancel] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        auth = PipaiAuth(self.api_key, self.secret)
        self._clients = [httpx.Client(base_url=url, auth=auth, timeout=self.shape.timeout_s)
                         for url in self.urls]
        self._pool = ThreadPoolExecutor(16, thread_name_prefix="chaos-load")
        self._ticker: threading.Thread | None = None

    # ---- the pacing thread -----------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._ticker = threading.Thread(target=self._tick, name="chaos-load-ticker", daemon=True)
        self._ticker.start()

    def stop(self) -> None:
        """Stop creating; wait for every request in flight (bounded by the HTTP timeout)."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None

    def close(self) -> None:
        self.stop()
        self._pool.shutdown(wait=True)
        for client in self._clients:
            client.close()

    def _tick(self) -> None:
        interval = 1.0 / self.shape.creates_per_s
        while not self._stop.wait(interval):  # pacing, not synchronisation
            with self._lock:
                api = self._rng.randrange(len(self._clients))
                key = uuid.uuid4().hex if self._rng.random() < self.shape.idempotent_share \
                    else None
                cancel_after = self._rng.uniform(0, self.shape.cancel_within_s) \
                    if self._rng.random() < self.shape.cancel_share else None
            self._pool.submit(self._create_flow, api, key, cancel_after)

    # ---- one logical create (and maybe its cancel) ---------------------------------------
    def _create_flow(self, api: int, key: str | None, cancel_after: float | None) -> None:
        try:
            for attempt in range(1 + (self.shape.retries if key else 0)):
                if attempt:
                    time.sleep(self.shape.retry_after_s * attempt)  # the SDK's backoff
                record = self._create(api, key)
                if record.status not in (503, None):
                    break
            if record.job_id and record.status in (200, 201, 202) and cancel_after is not None:
                self._stop.wait(cancel_after)
                self._cancel(api, record.job_id)
        except Exception:  # a bug here must show, not vanish in the pool
            log.exception("chaos_load_error")

    def _create(self, api: int, key: str | None) -> Create:
        request_id = uuid.uuid4().hex
        headers = {"X-Request-Id": request_id, **({"Idempotency-Key": key} if key else {})}
        status: int | None = None
        job_id: str | None = None
        try:
            response = self._clients[api].post(JOBS, json=job_config(), headers=headers)
            status = response.status_code
            if status in (200, 201, 202):
                job_id = str(response.json().get("id") or "") or None
        except httpx.HTTPError:
            pass  # no answer: promises nothing either way
        record = Create(request_id, key, status, job_id, self.urls[api])
        with self._lock:
            self.creates.append(record)
        return record

    def _cancel(self, api: int, job_id: str) -> None:
        request_id = uuid.uuid4().hex
        status: int | None = None
        try:
            response = self._clients[api].post(f"{JOBS}/{job_id}/cancel",
                                               json={"reason": "chaos"},
                                               headers={"X-Request-Id": request_id})
            status = response.status_code
        except httpx.HTTPError:
            pass
        with self._lock:
            self.cancels.append(Cancel(request_id, job_id, status, self.urls[api]))
