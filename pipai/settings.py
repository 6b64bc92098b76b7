"""All runtime configuration in one place, read from the environment.

Every process (API, orchestrator, engine worker, CLI) builds a `Settings` with
`Settings.from_env()`; tests build one directly with a unique topic prefix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return default if raw in (None, "") else int(raw)


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return default if raw in (None, "") else float(raw)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path(".pipai")
    # None: use (and if needed start) the embedded local broker on kafka_port.
    bootstrap_servers: str | None = None
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    topic_prefix: str = "pipai.backtest"
    partitions: int = 6
    replication_factor: int = 1
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # How long a command endpoint waits for the orchestrator's decision.
    command_timeout_s: float = 15.0
    # A running attempt that sends no report for this long is re-queued.
    heartbeat_timeout_s: float = 30.0
    max_attempts: int = 3
    # at_least_once (idempotent effects) or exactly_once (Kafka transactions); docs/architecture.md
    processing_guarantee: str = "at_least_once"
    # How fast the group notices a dead orchestrator and hands its partitions over.
    orchestrator_session_timeout_s: float = 10.0
    engine_workers: int = 1
    # Stretch every job to at least this many seconds (demos and cancel tests; 0 = off).
    engine_min_job_seconds: float = 0.0
    # Synthetic/imported bars; defaults to <data_dir>/market.
    market_dir_override: Path | None = None
    instance: str = field(default="default")
    # Signed requests: how old a timestamp may be (the future allowance is fixed at 1,000 ms).
    api_recv_window_ms: int = 5000
    # Weight budget per API key per minute (DESIGN §4), and where the counters live:
    # memory:// per instance, or e.g. redis://host:6379 shared by several instances.
    api_weight_per_minute: int = 1200
    api_rate_limit_storage: str = "memory://"
    # Largest request body the API reads (docs/api.md): larger ones get 413 before being read.
    api_max_body_bytes: int = 1024 * 1024

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            data_dir=Path(os.environ.get("PIPAI_DATA_DIR", ".pipai")),
            bootstrap_servers=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None,
            kafka_port=_env_int("PIPAI_KAFKA_PORT", 9092),
            kafka_controller_port=_env_int("PIPAI_KAFKA_CONTROLLER_PORT", 9093),
            topic_prefix=os.environ.get("PIPAI_TOPIC_PREFIX", "pipai.backtest"),
            partitions=_env_int("PIPAI_PARTITIONS", 6),
            replication_factor=_env_int("PIPAI_REPLICATION_FACTOR", 1),
            api_host=os.environ.get("PIPAI_API_HOST", "127.0.0.1"),
            api_port=_env_int("PIPAI_API_PORT", 8000),
            command_timeout_s=_env_float("PIPAI_COMMAND_TIMEOUT_S", 15.0),
            heartbeat_timeout_s=_env_float("PIPAI_HEARTBEAT_TIMEOUT_S", 30.0),
            max_attempts=_env_int("PIPAI_MAX_ATTEMPTS", 3),
            processing_guarantee=os.environ.get("PIPAI_PROCESSING_GUARANTEE", "at_least_once"),
            orchestrator_session_timeout_s=_env_float("PIPAI_ORCHESTRATOR_SESSION_TIMEOUT_S", 10.0),
            engine_workers=_env_int("PIPAI_ENGINE_WORKERS", 1),
            engine_min_job_seconds=_env_float("PIPAI_ENGINE_MIN_JOB_SECONDS", 0.0),
            market_dir_override=Path(os.environ["PIPAI_MARKET_DIR"])
            if os.environ.get("PIPAI_MARKET_DIR") else None,
            instance=os.environ.get("PIPAI_INSTANCE", "default"),
            api_recv_window_ms=_env_int("PIPAI_API_RECV_WINDOW_MS", 5000),
            api_weight_per_minute=_env_int("PIPAI_API_WEIGHT_PER_MINUTE", 1200),
            api_rate_limit_storage=os.environ.get("PIPAI_API_RATE_LIMIT_STORAGE", "memory://"),
            api_max_body_bytes=_env_int("PIPAI_API_MAX_BODY_BYTES", 1024 * 1024),
        )

    def to_env(self) -> dict[str, str]:
        """The environment that makes a child process see these same settings."""
        env = {
            "PIPAI_DATA_DIR": str(self.data_dir),
            "PIPAI_KAFKA_PORT": str(self.kafka_port),
            "PIPAI_KAFKA_CONTROLLER_PORT": str(self.kafka_controller_port),
            "PIPAI_TOPIC_PREFIX": self.topic_prefix,
            "PIPAI_PARTITIONS": str(self.partitions),
            "PIPAI_REPLICATION_FACTOR": str(self.replication_factor),
            "PIPAI_API_HOST": self.api_host,
            "PIPAI_API_PORT": str(self.api_port),
            "PIPAI_COMMAND_TIMEOUT_S": str(self.command_timeout_s),
            "PIPAI_HEARTBEAT_TIMEOUT_S": str(self.heartbeat_timeout_s),
            "PIPAI_MAX_ATTEMPTS": str(self.max_attempts),
            "PIPAI_PROCESSING_GUARANTEE": self.processing_guarantee,
            "PIPAI_ORCHESTRATOR_SESSION_TIMEOUT_S": str(self.orchestrator_session_timeout_s),
            "PIPAI_ENGINE_WORKERS": str(self.engine_workers),
            "PIPAI_INSTANCE": self.instance,
            "PIPAI_ENGINE_MIN_JOB_SECONDS": str(self.engine_min_job_seconds),
            "PIPAI_API_RECV_WINDOW_MS": str(self.api_recv_window_ms),
            "PIPAI_API_WEIGHT_PER_MINUTE": str(self.api_weight_per_minute),
            "PIPAI_API_RATE_LIMIT_STORAGE": self.api_rate_limit_storage,
            "PIPAI_API_MAX_BODY_BYTES": str(self.api_max_body_bytes),
        }
        if self.market_dir_override is not None:
            env["PIPAI_MARKET_DIR"] = str(self.market_dir_override)
        if self.bootstrap_servers:
            env["KAFKA_BOOTSTRAP_SERVERS"] = self.bootstrap_servers
        return env

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def bootstrap(self) -> str:
        return self.bootstrap_servers or f"127.0.0.1:{self.kafka_port}"

    @property
    def market_dir(self) -> Path:
        return self.market_dir_override or self.data_dir / "market"
