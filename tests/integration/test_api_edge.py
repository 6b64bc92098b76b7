"""The API's edge on a real stack: oversized bodies, replays across a restart, and a view that
is not served before it has caught up with the log."""

from __future__ import annotations

import concurrent.futures
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from cli.stack import demo_key
from pipai.client import PipaiAuth
from pipai.keys import ApiKey, KeyStore
from pipai.processes import stop
from pipai.signing import sign
from tests.integration.conftest import LiveStack, grid_config, start_stack
from tests.integration.signed_stack import base_url

pytestmark = pytest.mark.integration
JOBS = "/v1/backtest/jobs"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def edge(kafka_bootstrap: str, market_dir: Path,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    # A receive window far longer than an API restart: the replay below arrives in time.
    yield from start_stack(tmp_path_factory.mktemp("edge"), kafka_bootstrap, market_dir,
                           api_recv_window_ms=120_000)


def _new_key(live: LiveStack, owner: str) -> ApiKey:
    return KeyStore(live.settings.data_dir / "keys.json").create(f"{owner}-{uuid.uuid4().hex[:8]}")


def _restart_api(live: LiveStack) -> None:
    stop(live.stack.children.pop("api"))
    live.stack.start_process("api", "api")
    live.stack.wait_api(demo_key(live.settings))


def _memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a process, in kB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def _chunked_upload(port: int, headers: bytes, total_mib: int) -> tuple[bytes, int]:
    """POST a chunked body of total_mib MiB; the raw response and how many MiB went out.

    The server may answer and close before the body is sent: a writer thread pushes
    chunks until the connection refuses more, while this thread reads the answer."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sent_mib = 0

    def write() -> None:
        nonlocal sent_mib
        chunk = b"%x\r\n" % MIB + b"x" * MIB + b"\r\n"
        try:
            sock.sendall(headers)
            for _ in range(total_mib):
                sock.sendall(chunk)
                sent_mib += 1
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server closed the connection: what it does not read is never sent

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    response = b""
    try:
        while b"\r\n\r\n" not in response or not response.endswith(b"}}"):
            data = sock.recv(65536)
            if not data:
                break
            response += data
    except OSError:
        pass
    finally:
        sock.close()
        writer.join(timeout=60)
    return response, sent_mib


def _read_response(sock: socket.socket) -> bytes:
    """One whole HTTP response: headers, then Content-Length bytes (they may come in
    separate segments), or whatever arrives before the server closes."""
    response = b""
    while True:
        head, sep, body = response.partition(b"\r\n\r\n")
        if sep:
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            if len(body) >= length:
                return response
        data = sock.recv(65536)
        if not data:
            return response
        response += data


def test_a_200_mb_body_is_refused_without_being_read(edge: LiveStack) -> None:
    key = demo_key(edge.settings)
    pid = edge.stack.children["api"].pid
    before = _memory_kb(pid)
    ts = str(int(time.time() * 1000))
    headers = (f"POST {JOBS} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               f"Transfer-Encoding: chunked\r\nX-PipAI-API-Key: {key.api_key}\r\n"
               f"X-PipAI-Timestamp: {ts}\r\nX-PipAI-Signature: {'0' * 64}\r\n\r\n").encode()
    response, sent_mib = _chunked_upload(edge.settings.api_port, headers, 200)
    after = _memory_kb(pid)
    print(f"\nAPI memory (kB) before {before}, after {after}; client sent {sent_mib} MiB "
          f"of 200 before the server closed")
    assert response.startswith(b"HTTP/1.1 413 "), response[:300]
    body = orjson.loads(response.split(b"\r\n\r\n", 1)[1])
    assert body["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert after["VmHWM"] - before["VmHWM"] < 8 * 1024  # the peak grew by less than 8 MB
    assert sent_mib < 200

    # A declared length over the limit is refused at once, before any of the body is sent.
    with socket.create_connection(("127.0.0.1", edge.settings.api_port), timeout=30) as sock:
        sock.sendall(f"POST {JOBS} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     f"Content-Length: {200 * MIB}\r\n\r\n".encode())
        declared = _read_response(sock)
    assert declared.startswith(b"HTTP/1.1 413 ") and b"PAYLOAD_TOO_LARGE" in declared


def _signed_create(key: ApiKey, body: bytes) -> dict[str, str]:
    ts = str(int(time.time() * 1000))
    return {"X-PipAI-API-Key": key.api_key, "X-PipAI-Timestamp": ts,
            "X-PipAI-Signature": sign(key.secret, ts, "POST", JOBS, body),
            "Content-Type": "application/json"}


def _owned_ids(live: LiveStack, key: ApiKey) -> list[str]:
    with httpx.Client(base_url=base_url(live.settings), timeout=30,
                      auth=PipaiAuth(key.api_key, key.secret)) as client:
        response = client.get(JOBS, params={"limit": 100})
        assert response.status_code == 200, response.text
        return [j["id"] for j in response.json()["data"]]


def test_a_create_replayed_after_an_api_restart_is_refused(edge: LiveStack) -> None:
    victim = _new_key(edge, "replay")
    body = orjson.dumps(grid_config())
    captured = _signed_create(victim, body)
    url = base_url(edge.settings) + JOBS
    first = httpx.post(url, content=body, headers=captured, timeout=30)
    assert first.status_code == 201, first.text

    _restart_api(edge)
    replay = httpx.post(url, content=body, headers=captured, timeout=30)
    assert replay.status_code == 503, replay.text
    assert replay.json()["error"]["code"] == "UNAVAILABLE"
    assert _owned_ids(edge, victim) == [first.json()["id"]]


def _read_everything(client: httpx.Client, job_ids: set[str]) -> list[str]:
    """One listing and a few Get Jobs: what a caller sees now, as verdicts."""
    listing = client.get(JOBS, params={"limit": 100})
    verdicts = [_verdict(listing, lambda body: {j["id"] for j in body["data"]} == job_ids)]
    for job_id in sorted(job_ids)[:5]:
        got = client.get(f"{JOBS}/{job_id}")
        verdicts.append(_verdict(got, lambda body: body["id"] in job_ids))
    return verdicts


def _verdict(response: httpx.Response, complete: Callable[[Any], bool]) -> str:
    if response.status_code == 503 and response.json()["error"]["code"] == "UNAVAILABLE":
        return "unavailable"
    if response.status_code == 200 and complete(response.json()):
        return "complete"
    return f"WRONG {response.status_code} {response.text[:200]}"


def test_a_rebuilt_view_is_not_served_before_it_has_caught_up(edge: LiveStack) -> None:
    owner = _new_key(edge, "catchup")
    with httpx.Client(base_url=base_url(edge.settings), timeout=60,
                      auth=PipaiAuth(owner.api_key, owner.secret)) as client:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            created = list(pool.map(lambda _: client.post(JOBS, json=grid_config()), range(60)))
        assert all(r.status_code == 201 for r in created)
        job_ids = {r.json()["id"] for r in created}

        # A view rebuilt from nothing: the API process restarts on an empty folder.
        stop(edge.stack.children.pop("api"))
        view_dir = edge.settings.data_dir / "api" / edge.settings.instance / "jobs-view"
        shutil.rmtree(view_dir)
        edge.stack.start_process("api", "api")
        verdicts: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                latest = _read_everything(client, job_ids)
            except httpx.TransportError:
                time.sleep(0.02)  # not listening yet: poll often, to meet the earliest answer
                continue
            verdicts += latest
            if all(v == "complete" for v in latest):
                break
        wrong = [v for v in verdicts if v.startswith("WRONG")]
        assert not wrong, wrong[:3]
        assert verdicts and verdicts[-1] == "complete"
