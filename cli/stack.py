"""The whole stack in one place: broker (unless external), orchestrator, engine workers, API.

Used by `pipai run` (foreground, Ctrl-C/SIGTERM stops everything) and by the
integration tests. Children die with this process (PR_SET_PDEATHSIG), so no
process survives it, even on SIGKILL. `supervise_once` restarts whatever exited,
the local broker included, with the backoff of `cli.supervisor`.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import astuple, dataclass, field
from pathlib import Path

import httpx

from cli.supervisor import Supervisor
from pipai.broker import LocalBroker, broker_answers
from pipai.client import PipaiAuth
from pipai.keys import ApiKey, KeyStore
from pipai.log import get_logger
from pipai.processes import spawn, stop
from pipai.settings import Settings
from pipai.topics import Groups, ensure_topics

log = get_logger("cli.stack")


def demo_key(settings: Settings) -> ApiKey:
    """The demo key, kept in <data_dir>/demo-key.json (mode 0600) across runs."""
    store = KeyStore(settings.data_dir / "keys.json")
    path = settings.data_dir / "demo-key.json"
    if path.exists():
        saved = json.loads(path.read_text())
        key = store.get(saved.get("api_key", ""))
        if key is not None:
            return key
    key = store.create(owner="demo")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"api_key": key.api_key, "secret": key.secret}, out)
    return key


@dataclass
class Stack:
    settings: Settings
    log_dir: Path | None = None
    broker: LocalBroker | None = None
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    supervisor: Supervisor = field(default_factory=Supervisor)
    # how each child was started (module, settings overrides), to restart it alike
    specs: dict[str, tuple[str, dict[str, object]]] = field(default_factory=dict)

    def start_broker(self) -> None:
        if self.settings.bootstrap_servers:
            log.info("using_external_kafka", bootstrap=self.settings.bootstrap_servers)
            return
        if broker_answers(self.settings.bootstrap):
            raise RuntimeError(
                f"something already listens on {self.settings.bootstrap}; stop it, pick another "
                "PIPAI_KAFKA_PORT, or set KAFKA_BOOTSTRAP_SERVERS to use it")
        self.broker = LocalBroker(self.settings.data_dir / "kafka", self.settings.kafka_port,
                                  self.settings.kafka_controller_port)
        self.broker.start()
        self.supervisor.started("broker", time.monotonic())

    def _log(self, name: str) -> Path | None:
        if self.log_dir is None:
            return None
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self.log_dir / f"{name}.log"

    def start_process(self, name: str, module: str,
                      **overrides: object) -> subprocess.Popen[bytes]:
        """Start `python -m module`; `overrides` change its settings (e.g. instance="b")."""
        settings = self.settings.with_(**overrides) if overrides else self.settings
        proc = spawn(module, settings.to_env(), self._log(name))
        self.children[name] = proc
        self.specs[name] = (module, overrides)
        self.supervisor.started(name, time.monotonic())
        return proc

    def start(self) -> None:
        self.start_broker()
        ensure_topics(self.settings)
        self.start_process("orchestrator", "orchestrator")
        for n in range(self.settings.engine_workers):
            self.start_process(f"engine-{n}", "workers")
        self.start_process("api", "api")

    def exit_codes(self) -> dict[str, int | None]:
        """Every supervised component (the local broker, if this stack started it, and each
        child): None while it runs, else its exit code."""
        codes: dict[str, int | None] = {}
        if self.broker is not None:
            codes["broker"] = self.broker.exit_code
        for name, proc in self.children.items():
            codes[name] = proc.poll()
        return codes

    def restart(self, name: str) -> None:
        """Stop `name` if it still runs and start it again alike. The broker comes back on
        the same data dir and ports, without waiting for it (clients reconnect)."""
        self.supervisor.restarting(name, time.monotonic())
        if name == "broker":
            assert self.broker is not None, "no local broker in this stack"
            self.broker.stop()
            self.broker.launch()
            return
        module, overrides = self.specs[name]
        proc = self.children.get(name)  # stays listed until replaced: a failed start is retried
        if proc is not None:
            stop(proc)
        self.start_process(name, module, **overrides)

    def supervise_once(self) -> None:
        """One supervision tick: note what exited, restart what is due (see
        `cli.supervisor` for the backoff); `pipai run` calls it a few times a second."""
        for name, code in self.exit_codes().items():
            now = time.monotonic()
            if not self.supervisor.observe(name, code, now):
                continue
            try:
                self.restart(name)
            except Exception as exc:  # e.g. a port still taken: retry after the next delay
                self.supervisor.start_failed(name, time.monotonic(), repr(exc))

    def wait_api(self, key: ApiKey, timeout_s: float = 120.0) -> None:
        url = f"http://{self.settings.api_host}:{self.settings.api_port}/v1/backtest/templates"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            api = self.children.get("api")
            if api is not None and api.poll() is not None:
                raise RuntimeError(f"the API exited with {api.returncode}")
            try:
                response = httpx.get(url, auth=PipaiAuth(key.api_key, key.secret), timeout=1)
                if response.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)  # poll interval of a readiness check with a deadline
        raise TimeoutError(f"the API did not answer within {timeout_s}s")

    def wait_groups(self, timeout_s: float = 120.0, members: int | None = None,
                    watch_children: bool = True) -> None:
        """Wait until the orchestrator and engine consumer groups are stable (ready to work),
        with `members` members each if given; an exited child fails the wait at once unless
        `watch_children` is off (the chaos suite kills and restarts children on purpose)."""
        from confluent_kafka import ConsumerGroupState

        from pipai.kafka.clients import new_admin

        admin = new_admin(self.settings, log_level=0)
        prefix = self.settings.topic_prefix
        groups = list(astuple(Groups.for_prefix(prefix)))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for name, proc in self.children.items():
                if watch_children and proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}")
            try:
                described = admin.describe_consumer_groups(groups, request_timeout=5)
                found = [f.result() for f in described.values()]
                if all(g.state == ConsumerGroupState.STABLE
                       and (members is None or len(g.members) == members) for g in found):
                    return
            except Exception:  # group not there yet, or the broker restarts
                pass
            time.sleep(0.2)  # poll interval of a readiness check with a deadline
        raise TimeoutError(f"consumer groups {groups} not stable"
                           f"{f' with {members} members' if members else ''} in {timeout_s}s")

    def stop(self) -> None:
        for name in reversed(list(self.children)):
            stop(self.children.pop(name))
            self.supervisor.forget(name)
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
            self.supervisor.forget("broker")
