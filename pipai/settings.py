"""All runtime configuration in one place: one `Settings` class, each default written once.

Every process (API, orchestrator, engine worker, CLI) builds its settings with
`Settings.from_env()`, which reads `PIPAI_<FIELD>` (and `KAFKA_BOOTSTRAP_SERVERS`,
`PIPAI_MARKET_DIR`) and fails with a message naming the variable when a value does not
parse. `Settings(...)` itself reads only its arguments, never the environment, so tests,
the chaos stack and the SDK's defaults see no stray variable. `to_env()` is the inverse
of `from_env()`: the environment that gives a child process these same settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from pipai.signing import DEFAULT_WINDOW_MS

ENV_PREFIX = "PIPAI_"


def _env_alias(name: str) -> Any:
    """A field read from the environment variable `name` (not PIPAI_<FIELD>), still set
    by its field name in code."""
    return Field(default=None, validation_alias=name)


class SettingsError(ValueError):
    """An environment variable holds a value its setting cannot take."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True,
                                      frozen=True, extra="forbid", populate_by_name=True)

    data_dir: Path = Path(".pipai")
    # None: use (and if needed start) the embedded local broker on kafka_port.
    bootstrap_servers: str | None = _env_alias("KAFKA_BOOTSTRAP_SERVERS")
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
    processing_guarantee: Literal["at_least_once", "exactly_once"] = "at_least_once"
    # kafka: the Orchestrator over confluent-kafka and a local RocksDB table (fast);
    # faust: over faust-streaming (exactly_once always runs on it); docs/architecture.md
    orchestrator_runtime: Literal["kafka", "faust"] = "kafka"
    # How fast the group notices a dead orchestrator and hands its partitions over.
    orchestrator_session_timeout_s: float = 10.0
    engine_workers: int = 1
    # Stretch every job to at least this many seconds (demos and cancel tests; 0 = off).
    engine_min_job_seconds: float = 0.0
    # Synthetic/imported bars; None: <data_dir>/market.
    market_dir_override: Path | None = _env_alias("PIPAI_MARKET_DIR")
    instance: str = "default"
    # Signed requests: how old a timestamp may be (the future allowance is fixed at 1,000 ms).
    api_recv_window_ms: int = DEFAULT_WINDOW_MS
    # Weight budget per API key per minute (docs/api.md), and where the counters live:
    # memory:// per instance, or e.g. redis://host:6379 shared by several instances.
    api_weight_per_minute: int = 1200
    api_rate_limit_storage: str = "memory://"
    # Largest request body the API reads (docs/api.md): larger ones get 413 before being read.
    api_max_body_bytes: int = 1024 * 1024

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)  # the environment is read by from_env() alone

    @classmethod
    def from_env(cls) -> Settings:
        """Defaults, overridden by the environment; a bad value raises `SettingsError`."""
        values = EnvSettingsSource(cls)()
        try:
            return cls(**values)
        except ValidationError as exc:
            raise SettingsError(_explain(exc)) from None

    @classmethod
    def env_name(cls, field: str) -> str:
        """The environment variable that sets `field`."""
        alias = cls.model_fields[field].validation_alias
        return alias if isinstance(alias, str) else f"{ENV_PREFIX}{field.upper()}"

    def to_env(self) -> dict[str, str]:
        """The environment that makes a child process see these same settings."""
        return {self.env_name(name): str(value) for name, value in self
                if value is not None and value != ""}

    def with_(self, **changes: Any) -> Settings:
        """A copy with `changes` applied, validated like the original."""
        return type(self)(**{**dict(self), **changes})

    @property
    def bootstrap(self) -> str:
        return self.bootstrap_servers or f"127.0.0.1:{self.kafka_port}"

    @property
    def market_dir(self) -> Path:
        return self.market_dir_override or self.data_dir / "market"


def _explain(exc: ValidationError) -> str:
    """One line per bad variable: its name, what it held, what was expected."""
    lines = []
    for error in exc.errors():
        where = str(error["loc"][0]) if error["loc"] else "?"
        field = where if where in Settings.model_fields else None
        name = Settings.env_name(field) if field else where
        lines.append(f"{name}={error.get('input')!r}: {error['msg']}")
    return "bad settings in the environment: " + "; ".join(lines)
