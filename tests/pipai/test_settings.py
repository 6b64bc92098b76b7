"""Settings: the environment is parsed into typed fields, a bad value is named, and the
configuration tables of README.md and docs/api.md state the defaults the code has."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from pipai.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]
UNSET = "unset"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A clean environment: no PIPAI_* or KAFKA_* variable of the caller's shell leaks in."""
    for name in list(os.environ):
        if name.startswith(("PIPAI_", "KAFKA_")):
            monkeypatch.delenv(name)
    return monkeypatch


def test_from_env_parses_types_and_renamed_variables(env: pytest.MonkeyPatch) -> None:
    env.setenv("PIPAI_API_PORT", "8123")
    env.setenv("PIPAI_COMMAND_TIMEOUT_S", "2.5")
    env.setenv("PIPAI_DATA_DIR", "/tmp/pipai-x")
    env.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    env.setenv("PIPAI_MARKET_DIR", "/bars")
    env.setenv("PIPAI_PROCESSING_GUARANTEE", "exactly_once")
    settings = Settings.from_env()
    assert settings.api_port == 8123
    assert settings.command_timeout_s == 2.5
    assert settings.data_dir == Path("/tmp/pipai-x")
    assert settings.bootstrap == "kafka:9092"
    assert settings.market_dir == Path("/bars")
    assert settings.processing_guarantee == "exactly_once"
    assert settings.partitions == 6  # untouched fields keep their defaults


def test_empty_variables_count_as_unset(env: pytest.MonkeyPatch) -> None:
    env.setenv("PIPAI_PARTITIONS", "")
    env.setenv("KAFKA_BOOTSTRAP_SERVERS", "")
    settings = Settings.from_env()
    assert settings.partitions == Settings().partitions
    assert settings.bootstrap_servers is None
    assert settings.bootstrap == f"127.0.0.1:{settings.kafka_port}"


@pytest.mark.parametrize(("name", "value"), [("PIPAI_API_PORT", "eighty"),
                                             ("PIPAI_PROCESSING_GUARANTEE", "maybe"),
                                             ("PIPAI_HEARTBEAT_TIMEOUT_S", "30s")])
def test_a_bad_value_names_its_variable(env: pytest.MonkeyPatch, name: str, value: str) -> None:
    env.setenv(name, value)
    with pytest.raises(SettingsError, match=f"{name}='{value}'"):
        Settings.from_env()


def test_direct_construction_ignores_the_environment(env: pytest.MonkeyPatch) -> None:
    env.setenv("PIPAI_API_PORT", "8123")
    assert Settings().api_port == 8000
    assert Settings(api_port=1).api_port == 1


def test_to_env_round_trips_through_from_env(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, bootstrap_servers="b:1", market_dir_override=tmp_path,
                        topic_prefix="t", command_timeout_s=1.5, instance="b")
    for name, value in settings.to_env().items():
        env.setenv(name, value)
    assert Settings.from_env() == settings
    assert "KAFKA_BOOTSTRAP_SERVERS" not in Settings().to_env()  # None is left unset


def test_with_validates_and_keeps_the_rest() -> None:
    changed = Settings(topic_prefix="p").with_(api_port="9000")
    assert (changed.api_port, changed.topic_prefix) == (9000, "p")
    with pytest.raises(ValueError, match="api_port"):
        Settings().with_(api_port="x")
    with pytest.raises(ValueError, match="no_such_field"):
        Settings().with_(no_such_field=1)


def _documented(path: str, row: str) -> dict[str, str]:
    """variable -> default cell of each configuration-table row in a doc."""
    text = (ROOT / path).read_text()
    return {name: default.strip("`") for name, default in re.findall(row, text, re.MULTILINE)}


TABLE_ROW = r"^\| `((?:PIPAI|KAFKA)_[A-Z_]+)` \| ([^|]+?) \|"


def _matches(documented: str, default: object) -> bool:
    if default is None:
        return documented == UNSET
    if isinstance(default, int | float):
        return float(documented) == default
    return documented == str(default)


def _defaults() -> dict[str, object]:
    return {Settings.env_name(name): field.default for name, field in Settings.model_fields.items()}


def test_the_readme_table_lists_every_setting_with_its_default() -> None:
    documented = _documented("README.md", TABLE_ROW)
    defaults = _defaults()
    assert set(documented) == set(defaults)
    wrong = {name: text for name, text in documented.items()
             if not _matches(text, defaults[name])}
    assert not wrong, f"README.md states defaults the code does not have: {wrong}"


def test_the_api_doc_table_states_the_code_defaults() -> None:
    documented = _documented("docs/api.md", TABLE_ROW)
    defaults = _defaults()
    assert documented, "docs/api.md has no configuration table"
    wrong = {name: text for name, text in documented.items()
             if name not in defaults or not _matches(text, defaults[name])}
    assert not wrong, f"docs/api.md states defaults the code does not have: {wrong}"
