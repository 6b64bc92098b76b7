"""`pipai run` supervises the broker it started: SIGKILL the JVM and the stack comes back
by itself, with its data, and /v1/health says which component is down meanwhile.

Drives the real `pipai run` (its own LocalBroker, data dir and free ports), as a user
would; the session's broker is not involved.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipai.broker import broker_answers
from pipai.client import PipaiAuth
from pipai.processes import die_with_parent, free_port
from tests.integration.conftest import grid_config

pytestmark = pytest.mark.integration
HEALTH = "/v1/health"


@dataclass
class RunningStack:
    proc: subprocess.Popen[bytes]
    data_dir: Path
    bootstrap: str
    base_url: str
    log_path: Path

    def descendants(self) -> set[int]:
        """Pids of every process below `pipai run` (the JVM, the Python children)."""
        found: set[int] = set()
        todo = [self.proc.pid]
        while todo:
            pid = todo.pop()
            for task in Path(f"/proc/{pid}/task").glob("*"):
                try:
                    children = (task / "children").read_text().split()
                except OSError:
                    continue
                for child in map(int, children):
                    if child not in found:
                        found.add(child)
                        todo.append(child)
        return found

    def broker_pids(self) -> set[int]:
        return {pid for pid in self.descendants() if b"kafka.Kafka" in _cmdline(pid)}

    def client(self) -> httpx.Client:
        key = json.loads((self.data_dir / "demo-key.json").read_text())
        return httpx.Client(base_url=self.base_url, timeout=10,
                            auth=PipaiAuth(key["api_key"], key["secret"]))


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _health(base_url: str) -> tuple[int, dict[str, Any]] | None:
    try:
        response = httpx.get(base_url + HEALTH, timeout=5)
    except httpx.HTTPError:
        return None
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, {}


def _wait(condition: Any, timeout_s: float, what: str, stack: RunningStack) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if stack.proc.poll() is not None:
            raise AssertionError(f"pipai run exited with {stack.proc.returncode}; "
                                 f"see {stack.log_path}")
        if condition():
            return
        time.sleep(0.2)  # poll interval; the deadline bounds the wait
    raise AssertionError(f"{what} not within {timeout_s}s; see {stack.log_path}")


def _wait_all_up(stack: RunningStack, timeout_s: float, what: str) -> None:
    last: list[Any] = [None]

    def all_up() -> bool:
        last[0] = _health(stack.base_url)
        return last[0] is not None and last[0][0] == 200 and last[0][1].get("status") == "ok"

    try:
        _wait(all_up, timeout_s, what, stack)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last /v1/health: {last[0]}") from None


@pytest.fixture
def running(tmp_path: Path, market_dir: Path) -> Iterator[RunningStack]:
    data_dir, kafka_port, api_port = tmp_path / "pipai", free_port(), free_port()
    env = {**os.environ, "PIPAI_DATA_DIR": str(data_dir), "PIPAI_KAFKA_PORT": str(kafka_port),
           "PIPAI_KAFKA_CONTROLLER_PORT": str(free_port()), "PIPAI_API_PORT": str(api_port),
           "PIPAI_TOPIC_PREFIX": f"it.{uuid.uuid4().hex[:10]}", "PIPAI_PARTITIONS": "3",
           "PIPAI_MARKET_DIR": str(market_dir)}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)  # this stack starts (and supervises) its own
    log_path = tmp_path / "pipai-run.log"
    with open(log_path, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cli", "run"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    stack = RunningStack(proc, data_dir, f"127.0.0.1:{kafka_port}",
                         f"http://127.0.0.1:{api_port}", log_path)
    try:
        yield stack
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # its children die with it (PDEATHSIG)
            proc.wait()


def test_a_killed_broker_is_restarted_and_health_tells(running: RunningStack) -> None:
    # pipai run supervises once it is Ready (a crash during start-up fails the start)
    _wait(lambda: "Ready in" in running.log_path.read_text(), 240, "pipai run ready", running)
    _wait_all_up(running, 120, "the stack healthy")
    [old_broker] = running.broker_pids()
    children_before = running.descendants()

    os.kill(old_broker, signal.SIGKILL)
    _wait(lambda: not _alive(old_broker), 10, "the broker dead", running)
    # Until the broker answers again, watch what /v1/health says meanwhile.
    seen: list[tuple[int, dict[str, Any]]] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not broker_answers(running.bootstrap):
        health = _health(running.base_url)
        if health is not None:
            seen.append(health)
        time.sleep(0.2)  # poll interval; the deadline bounds the wait
    assert broker_answers(running.bootstrap), "the broker was not restarted within 120 s"
    [new_broker] = running.broker_pids()
    assert new_broker != old_broker

    down = [body for status, body in seen
            if status == 503 and body["components"]["broker"]["state"] == "down"]
    assert down, f"/v1/health never reported the broker down; saw {seen[:3]}"
    assert down[0]["status"] == "unavailable"
    assert {"broker", "orchestrator", "engine", "view"} <= set(down[0]["components"])

    _wait_all_up(running, 180, "the stack healthy again")
    status, body = _health(running.base_url) or (0, {})
    assert status == 200
    assert {c: v["state"] for c, v in body["components"].items()} == {
        "broker": "up", "orchestrator": "up", "engine": "up", "view": "up"}

    with running.client() as client:
        job_id = _create_after_restart(client, running)
        done: dict[str, Any] = {}

        def is_done() -> bool:
            done.update(client.get(f"/v1/backtest/jobs/{job_id}").json())
            return done.get("status") == "done"

        _wait(is_done, 180, f"job {job_id} done", running)

    log = running.log_path.read_text()
    exited = [json.loads(line) for line in log.splitlines() if '"component_exited"' in line]
    assert any(e["component"] == "broker" and e["exit_code"] == -signal.SIGKILL
               and e["attempt"] == 1 and e["next_delay_s"] > 0 for e in exited), exited
    assert '"component_restarting"' in log

    # Ctrl-C stops everything: no process of the stack survives, the new broker included.
    everything = {pid: _cmdline(pid) for pid in children_before | running.descendants()}
    running.proc.send_signal(signal.SIGINT)
    assert running.proc.wait(timeout=90) == 0
    _wait_gone(everything)


def _create_after_restart(client: httpx.Client, running: RunningStack) -> str:
    """Create a job; 503 or a dropped connection is retried with the same Idempotency-Key."""
    key = f"after-restart-{uuid.uuid4().hex}"
    deadline = time.monotonic() + 120
    last: Any = None
    while time.monotonic() < deadline:
        try:
            response = client.post("/v1/backtest/jobs", json=grid_config(),
                                   headers={"Idempotency-Key": key})
        except httpx.HTTPError as exc:
            last = exc
        else:
            if response.status_code in (200, 201, 202):
                return str(response.json()["id"])
            assert response.status_code == 503, response.text
            last = response.text
        time.sleep(1.0)  # a client's retry pause; the deadline bounds the wait
    raise AssertionError(f"no create accepted after the restart: {last}; see {running.log_path}")


def _wait_gone(cmdlines: dict[int, bytes], timeout_s: float = 30.0) -> None:
    """Every one of these processes exited (a pid reused by another program does not count)."""

    def survivors() -> dict[int, bytes]:
        return {pid: cmd for pid, cmd in cmdlines.items() if _alive(pid) and _cmdline(pid) == cmd}

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not survivors():
            return
        time.sleep(0.2)  # poll interval; the deadline bounds the wait
    raise AssertionError(f"processes left behind after Ctrl-C: {survivors()}")
