"""No coercion at the edge: a field the spec types as integer takes a JSON integer only."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from api.examples import GRID_CONFIG
from tests.api.conftest import ApiHarness

JOB = "/v1/backtest/jobs"


def _create(harness: ApiHarness, config: dict[str, Any]) -> Any:
    return harness.client.post(JOB, content=orjson.dumps(config),
                               headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("leverage", ["5", True, " 7 ", 2.0, "2", False, 1.5])
def test_leverage_must_be_a_json_integer(harness: ApiHarness, leverage: Any) -> None:
    response = _create(harness, {**GRID_CONFIG, "leverage": leverage})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_PARAMETER" and error["message"].startswith("leverage:")


@pytest.mark.parametrize("field,value", [
    ("params.grid_levels", "10"), ("params.grid_levels", True), ("params.grid_levels", 10.0),
    ("capital", 10000), ("capital", 10000.0), ("fee_bps", 5), ("symbols", "BTCUSDT"),
    ("start", 1735689600000), ("slippage_bps", 5),
])
def test_other_typed_fields_are_not_coerced(harness: ApiHarness, field: str, value: Any) -> None:
    config: dict[str, Any] = orjson.loads(orjson.dumps(GRID_CONFIG))
    if field.startswith("params."):
        config["params"][field.split(".", 1)[1]] = value
    else:
        config[field] = value
    response = _create(harness, config)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_PARAMETER" and error["message"].startswith(f"{field}:")


def test_slippage_is_kept_as_submitted_and_checked(harness: ApiHarness) -> None:
    config = {**GRID_CONFIG, "slippage_model": "fixed_bps", "slippage_bps": "2.5"}
    created = _create(harness, config)
    assert created.status_code == 201, created.text
    assert created.json()["config"] == config
    plain = _create(harness, GRID_CONFIG).json()["config"]
    assert "slippage_model" not in plain and "slippage_bps" not in plain
    refused = _create(harness, {**GRID_CONFIG, "slippage_model": "fixed_bps"})
    assert refused.status_code == 400
    assert refused.json()["error"]["message"].startswith("slippage_bps:")
