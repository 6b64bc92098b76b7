"""Resumable event streams (docs/api.md, "Events"): a stream dropped at any point and
resumed with `Last-Event-ID` gives every event once, in order.

50 SSE streams over 10 running jobs go through a TCP proxy that cuts each stream's first
connection, and some later ones, at a random byte (seeded) — real sockets, real drops,
mid-frame or before the headers. Each client is the SDK's
`stream_events`, which resumes from the last event it yielded; what it yields must be
the job's whole history, seq 1..n without a gap or a repeat, ending with its end event.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from cli.stack import demo_key
from pipai.client import JOB_END_EVENTS, Client
from tests.integration.conftest import LiveStack, start_stack

pytestmark = pytest.mark.integration

CONFIG: dict[str, Any] = {
    "template_id": "tpl_sma_cross", "params": {"fast": 10, "slow": 50},
    "symbols": ["BTCUSDT"], "timeframe": "1h", "start": "2025-01-01T00:00:00Z",
    "end": "2025-03-01T00:00:00Z", "capital": "10000.00", "leverage": 1,
    "fee_model": "fixed_bps", "fee_bps": "5"}
JOBS, STREAMS_PER_JOB = 10, 5
SEED = 11


class CuttingProxy:
    """Forwards loopback TCP to `upstream`; the first `always` connections are cut, and
    each later one with probability `p_cut`, after a random number of bytes towards the
    client (both ends closed)."""

    def __init__(self, upstream: int, seed: int, always: int, p_cut: float = 0.3) -> None:
        self.upstream = upstream
        self.rng = random.Random(seed)
        self.always = always
        self.p_cut = p_cut
        self.lock = threading.Lock()
        self.accepted = 0
        self.cuts = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                cut = self.accepted <= self.always or self.rng.random() < self.p_cut
                cut_at = self.rng.randint(50, 1500) if cut else None
            upstream = socket.create_connection(("127.0.0.1", self.upstream))
            threading.Thread(target=self._pump, args=(client, upstream, None),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, cut_at),
                             daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, cut_at: int | None) -> None:
        sent = 0
        try:
            while chunk := source.recv(65536):
                if cut_at is not None and sent + len(chunk) >= cut_at:
                    sink.sendall(chunk[:cut_at - sent])
                    with self.lock:
                        self.cuts += 1
                    break
                sink.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the other direction closed the sockets
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def close(self) -> None:
        self.server.close()


@pytest.fixture(scope="module")
def paced(kafka_bootstrap: str, market_dir: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    yield from start_stack(tmp_path_factory.mktemp("streams"), kafka_bootstrap, market_dir,
                           engine_min_job_seconds=1.5, api_weight_per_minute=1_000_000)


def test_50_streams_cut_at_random_points_each_get_every_event_once(paced: LiveStack) -> None:
    job_ids = []
    for _ in range(JOBS):
        created = paced.client.post("/v1/backtest/jobs", json=CONFIG)
        assert created.status_code == 201, created.text
        job_ids.append(created.json()["id"])
    # every stream's first connection is cut (the 50 connect at once), later ones at random
    proxy = CuttingProxy(paced.settings.api_port, SEED, always=JOBS * STREAMS_PER_JOB)
    key = demo_key(paced.settings)

    def follow(job_id: str) -> list[dict[str, Any]]:
        client = Client(f"http://127.0.0.1:{proxy.port}", key.api_key, key.secret)
        try:
            return list(client.stream_events(job_id, max_reconnects=50))
        finally:
            client.close()

    try:
        with ThreadPoolExecutor(max_workers=JOBS * STREAMS_PER_JOB) as pool:
            followed = list(pool.map(follow, [j for j in job_ids
                                              for _ in range(STREAMS_PER_JOB)]))
    finally:
        proxy.close()
    assert proxy.cuts >= JOBS * STREAMS_PER_JOB, f"only {proxy.cuts} connections cut"
    for index, events in enumerate(followed):
        job_id = job_ids[index // STREAMS_PER_JOB]
        history = paced.client.get(f"/v1/backtest/jobs/{job_id}/events").json()["data"]
        seqs = [e["seq"] for e in events]
        assert seqs == list(range(1, len(history) + 1)), (job_id, seqs)
        assert events == history  # the same events, field for field
        assert events[-1]["type"] in JOB_END_EVENTS
    print(f"\n{len(followed)} streams, {proxy.cuts} connections cut, "
          f"{sum(len(e) for e in followed)} events, none missed or repeated")


def test_last_event_id_starts_after_it_and_a_bad_one_is_refused(paced: LiveStack) -> None:
    created = paced.client.post("/v1/backtest/jobs", json=CONFIG)
    job_id = created.json()["id"]
    paced.wait_for(job_id, lambda j: j["status"] == "done", 60)
    history = paced.client.get(f"/v1/backtest/jobs/{job_id}/events").json()["data"]
    after = paced.client.get(f"/v1/backtest/jobs/{job_id}/events",
                             headers={"Last-Event-ID": "2"}).json()["data"]
    assert after == history[2:]
    key = demo_key(paced.settings)
    with Client(f"http://127.0.0.1:{paced.settings.api_port}", key.api_key,
                key.secret) as client:
        assert list(client.stream_events(job_id, last_event_id=len(history))) == []
        assert list(client.stream_events(job_id, last_event_id=1)) == history[1:]
    refused = paced.client.get(f"/v1/backtest/jobs/{job_id}/events",
                               headers={"Last-Event-ID": "-1"})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "INVALID_PARAMETER"


def test_events_tail_reads_the_log_from_a_time_and_resumes_from_an_offset(
        paced: LiveStack) -> None:
    before = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    created = paced.client.post("/v1/backtest/jobs", json=CONFIG)
    job_id = created.json()["id"]
    paced.wait_for(job_id, lambda j: j["status"] == "done", 60)
    history = paced.client.get(f"/v1/backtest/jobs/{job_id}/events").json()["data"]
    env = paced.settings.to_env()

    def tail(*args: str) -> list[dict[str, Any]]:
        result = CliRunner().invoke(app, ["events", "tail", "--no-follow", "--job", job_id,
                                          *args], env=env)
        assert result.exit_code == 0, result.output
        return [json.loads(line) for line in result.stdout.splitlines() if line]

    lines = tail("--from", before)
    assert [(e["type"], e["seq"]) for e in lines] == [(e["type"], e["seq"]) for e in history]
    assert {e["event_id"] for e in lines} == {e["event_id"] for e in history}
    first = lines[0]
    resumed = tail("--offsets", f"{first['partition']}:{first['offset'] + 1}")
    assert [e["seq"] for e in resumed] == [e["seq"] for e in history[1:]]
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    assert tail("--from", later) == []
