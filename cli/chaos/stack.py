"""The chaos stack: broker, 2 orchestrators, 2 engine workers, 2 API instances, in a
temporary data directory on free ports, with the handles the faults need (a pid per
process name, restart by name, SIGSTOP bookkeeping so nothing stays frozen).

It wraps `cli.stack.Stack` (which owns the children and the broker) rather than
changing it: the runner is its supervisor and restarts what a fault killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cli.stack import Stack, demo_key
from pipai.keys import ApiKey
from pipai.log import get_logger
from pipai.processes import free_port
from pipai.settings import Settings
from pipai.topics import ensure_topics

log = get_logger("cli.chaos.stack")

BROKER = "broker"


def chaos_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Short timeouts so that an iteration's faults play out in seconds."""
    return Settings(
        data_dir=data_dir, kafka_port=free_port(), kafka_controller_port=free_port(),
        topic_prefix="chaos", partitions=6, api_port=free_port(),
        command_timeout_s=8.0, heartbeat_timeout_s=4.0, max_attempts=2,
        orchestrator_session_timeout_s=6.0, engine_workers=2, engine_min_job_seconds=0.5,
        api_weight_per_minute=10_000_000,
    ).with_(**overrides)


@dataclass
class ChaosStack:
    settings: Settings
    second_api_port: int = field(default_factory=free_port)
    stack: Stack = field(init=False)
    specs: dict[str, tuple[str, dict[str, Any]]] = field(init=False)
    paused: set[str] = field(default_factory=set)
    started_pids: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.stack = Stack(self.settings, log_dir=self.settings.data_dir / "logs")
        self.specs = {
            "orchestrator": ("orchestrator", {}),
            "orchestrator-b": ("orchestrator", {"instance": "b"}),
            "engine-0": ("workers", {}),
            "engine-1": ("workers", {}),
            "api": ("api", {}),
            "api-b": ("api", {"instance": "b", "api_port": self.second_api_port}),
        }

    @property
    def urls(self) -> list[str]:
        host = self.settings.api_host
        return [f"http://{host}:{self.settings.api_port}", f"http://{host}:{self.second_api_port}"]

    def key(self) -> ApiKey:
        return demo_key(self.settings)

    # ---- lifecycle --------------------------------------------------------------------
    def start(self, timeout_s: float = 180.0) -> None:
        self.stack.start_broker()
        self._note_broker()
        ensure_topics(self.settings)
        for name in self.specs:
            self.restart(name)
        self.wait_ready(timeout_s)

    def wait_ready(self, timeout_s: float) -> None:
        """Both APIs answer and both orchestrators and both workers are in stable groups."""
        key = self.key()
        for port in (self.settings.api_port, self.second_api_port):
            probe = Stack(self.settings.with_(api_port=port))
            probe.wait_api(key, timeout_s)
        self.stack.wait_groups(timeout_s, members=2, watch_children=False)

    def stop(self) -> None:
        for name in list(self.paused):
            self.resume(name)  # a stopped process cannot act on SIGTERM
        self.stack.stop()

    # ---- processes by name --------------------------------------------------------------
    def process(self, name: str) -> subprocess.Popen[bytes] | None:
        if name == BROKER:
            return self.stack.broker.process if self.stack.broker else None
        return self.stack.children.get(name)

    def pid(self, name: str) -> int | None:
        proc = self.process(name)
        return proc.pid if proc is not None and proc.poll() is None else None

    def alive(self, name: str) -> bool:
        return self.pid(name) is not None

    def signal(self, name: str, sig: int) -> None:
        """`sig` to the process group of `name` (a child's group is its own: setsid)."""
        pid = self.pid(name)
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)

    def kill(self, name: str) -> None:
        proc = self.process(name)
        self.paused.discard(name)
        if proc is None or proc.poll() is not None:
            return
        self.signal(name, signal.SIGKILL)
        proc.wait()

    def pause(self, name: str) -> None:
        self.paused.add(name)
        self.signal(name, signal.SIGSTOP)

    def resume(self, name: str) -> None:
        self.signal(name, signal.SIGCONT)
        self.paused.discard(name)

    def restart(self, name: str) -> None:
        """Start `name` again (a supervisor's restart after it died)."""
        if name == BROKER:
            broker = self.stack.broker
            assert broker is not None, "the chaos stack always runs its own broker"
            broker.process = None
            broker.start()
            self._note_broker()
            return
        module, overrides = self.specs[name]
        proc = self.stack.start_process(name, module, **overrides)
        self.started_pids.add(proc.pid)

    def restart_broker_gracefully(self) -> None:
        broker = self.stack.broker
        assert broker is not None
        broker.stop()
        broker.start()
        self._note_broker()

    def revive(self) -> list[str]:
        """Restart every process that exited on its own (the faults restart what they kill)."""
        dead = [name for name in [BROKER, *self.specs] if not self.alive(name)]
        for name in dead:
            log.warning("chaos_process_exited", name=name)
            self.restart(name)
        return dead

    def _note_broker(self) -> None:
        proc = self.process(BROKER)
        if proc is not None:
            self.started_pids.add(proc.pid)
