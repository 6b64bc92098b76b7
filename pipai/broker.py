"""A real single-node Apache Kafka broker (KRaft, combined broker+controller) on loopback.

The jars come from Maven Central through `scripts/fetch-kafka.sh` (a pinned pom),
cached in `.cache/kafka-<version>/`. The JVM runs in its own process group and
gets SIGKILL from the kernel if its parent dies (PR_SET_PDEATHSIG), so no orphan
broker survives a crash of the process that started it.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

from pipai.kafka.clients import new_admin_at
from pipai.log import get_logger
from pipai.processes import die_with_parent

log = get_logger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
KAFKA_FILES = Path(__file__).resolve().parent / "broker_files"


def fetch_kafka() -> Path:
    """Resolve the broker jars (Maven, once) and return the Kafka home folder."""
    out = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "fetch-kafka.sh")],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(out.stdout.strip().splitlines()[-1])


def broker_answers(bootstrap: str, timeout_s: float = 1.0) -> bool:
    """True if a broker at `bootstrap` answers a metadata request."""
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:  # cheap check first, so librdkafka does not log refused connections
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError:
        return False
    admin = new_admin_at(bootstrap, log_level=0)
    try:
        return bool(admin.list_topics(timeout=timeout_s).brokers)
    except Exception:
        return False


def new_cluster_id() -> str:
    """A KRaft cluster id: a random UUID in URL-safe base64, never starting with '-'
    (like Kafka's own Uuid.randomUuid, so no command line can take it for an option)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class LocalBroker:
    """Format (once) and run a KRaft broker whose storage lives in `data_dir`."""

    def __init__(self, data_dir: Path, port: int, controller_port: int) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.controller_port = controller_port
        self.process: subprocess.Popen[bytes] | None = None
        self._home: Path | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "broker.log"

    def _write_properties(self) -> Path:
        logs = self.data_dir / "kraft-logs"
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(logs),
            "num.partitions": "6",
            # A single node: every internal topic has one replica.
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "6",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "6",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            "message.max.bytes": str(16 * 1024 * 1024),
        }
        path = self.data_dir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        return path

    def start(self, timeout_s: float = 60.0) -> None:
        self.launch()
        self.wait_ready(timeout_s)

    def launch(self) -> None:
        """Format the storage (first time only) and start the JVM, without waiting for it.

        A restart reuses the data dir and ports: the cluster comes back with its data.
        """
        if self._home is None:
            self._home = fetch_kafka()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        props = self._write_properties()
        classpath = f"{self._home}/libs/*"
        java_opts = [
            "-Xms256m",
            "-Xmx1g",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={KAFKA_FILES / 'log4j2.properties'}",
            f"-Dpipai.broker.log={self.log_file}",
        ]
        if not (self.data_dir / "kraft-logs" / "meta.properties").exists():
            cluster_id = new_cluster_id()
            subprocess.run(
                ["java", *java_opts, "-cp", classpath, "kafka.tools.StorageTool", "format",
                 f"--cluster-id={cluster_id}", "-c", str(props)],
                check=True,
                capture_output=True,
            )
        out = open(self.data_dir / "broker.stdout", "ab")  # noqa: SIM115 (owned by the child)
        self.process = subprocess.Popen(
            ["java", *java_opts, "-cp", classpath, "kafka.Kafka", str(props)],
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        out.close()

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Wait until the launched broker answers a metadata request."""
        assert self.process is not None, "launch() first"
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"Kafka broker exited with {self.process.returncode}; see {self.log_file}"
                )
            if broker_answers(self.bootstrap):
                log.info("broker_ready", bootstrap=self.bootstrap,
                         seconds=round(time.monotonic() - started, 2))
                return
            time.sleep(0.1)  # poll interval of a readiness check with a deadline
        self.stop()
        raise TimeoutError(f"Kafka broker did not answer within {timeout_s}s; see {self.log_file}")

    @property
    def exit_code(self) -> int | None:
        """None while the JVM runs; its exit code once it exited (-1: never launched)."""
        if self.process is None:
            return -1
        return self.process.poll()

    def stop(self, timeout_s: float = 30.0) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)  # controlled shutdown
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def __enter__(self) -> LocalBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
