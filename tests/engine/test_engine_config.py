from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from engine import ConfigError, parse_config, templates_catalog
from engine.config import MAX_LEVERAGE, check_config
from engine.fees import FEE_MODELS
from tests.engine.helpers import api_config


def test_seed_page_config_parses() -> None:
    c = parse_config(api_config())
    assert c.template_id == "tpl_grid"
    assert c.params == {"grid_levels": 8, "upper_price": 72000.0, "lower_price": 60000.0}
    assert c.symbols == ("BTCUSDT",)
    assert c.start_ms == 1_735_689_600_000 and c.end_ms == 1_767_225_599_000
    assert (c.capital, c.leverage, c.fee_model, c.fee_bps) == (10000.0, 1, "fixed_bps", 5.0)


def test_tiered_without_fee_bps_and_defaults() -> None:
    cfg = api_config(template_id="tpl_rsi_reversion", params={}, fee_model="tiered_maker_taker")
    del cfg["fee_bps"]
    c = parse_config(cfg)
    assert c.fee_bps is None
    assert c.params == {"period": 14, "oversold": 30, "overbought": 70}


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"template_id": "tpl_nope"}, "template_id"),
        (
            {"params": {"grid_levels": 1, "upper_price": "2", "lower_price": "1"}},
            "params.grid_levels",
        ),
        (
            {"params": {"grid_levels": "8", "upper_price": "2", "lower_price": "1"}},
            "params.grid_levels",
        ),
        (
            {"params": {"grid_levels": True, "upper_price": "2", "lower_price": "1"}},
            "params.grid_levels",
        ),
        ({"params": {"upper_price": "2", "lower_price": "1"}}, "params.grid_levels"),
        (
            {"params": {"grid_levels": 8, "upper_price": 2, "lower_price": "1"}},
            "params.upper_price",
        ),
        (
            {"params": {"grid_levels": 8, "upper_price": "1e5", "lower_price": "1"}},
            "params.upper_price",
        ),
        (
            {"params": {"grid_levels": 8, "upper_price": "1", "lower_price": "2"}},
            "params.upper_price",
        ),
        (
            {"params": {"grid_levels": 8, "upper_price": "2", "lower_price": "0"}},
            "params.lower_price",
        ),
        (
            {"params": {"grid_levels": 8, "upper_price": "2", "lower_price": "1", "x": 1}},
            "params.x",
        ),
        ({"params": []}, "params"),
        ({"symbols": []}, "symbols"),
        ({"symbols": ["BTCUSDT", "btc"]}, "symbols[1]"),
        ({"symbols": ["BTCUSDT", "BTCUSDT"]}, "symbols[1]"),
        ({"timeframe": "2h"}, "timeframe"),
        ({"start": "2025-01-01"}, "start"),
        ({"start": "2025-13-01T00:00:00Z"}, "start"),
        ({"end": "2025-01-01T00:00:00+01:00"}, "end"),
        ({"end": "2025-01-01T00:00:00Z"}, "end"),
        ({"end": "2024-06-01T00:00:00Z"}, "end"),
        ({"capital": 10000}, "capital"),
        ({"capital": "0"}, "capital"),
        ({"capital": "-5"}, "capital"),
        ({"leverage": 0}, "leverage"),
        ({"leverage": 126}, "leverage"),
        ({"leverage": 2.0}, "leverage"),
        ({"fee_model": "free"}, "fee_model"),
        ({"fee_bps": None}, "fee_bps"),
        ({"fee_bps": "abc"}, "fee_bps"),
        ({"fee_model": "tiered_maker_taker", "fee_bps": "5"}, "fee_bps"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_errors_name_the_field(over: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(api_config(**over))
    assert err.value.field == field, err.value


@pytest.mark.parametrize(
    ("tid", "params", "field"),
    [
        ("tpl_breakout", {}, "params.lookback"),
        ("tpl_breakout", {"lookback": 1}, "params.lookback"),
        ("tpl_sma_cross", {"fast": 50, "slow": 20}, "params.slow"),
        ("tpl_rsi_reversion", {"oversold": 60}, "params.oversold"),
        ("tpl_rsi_reversion", {"overbought": 50}, "params.overbought"),
    ],
)
def test_template_param_errors(tid: str, params: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(api_config(template_id=tid, params=params))
    assert err.value.field == field


def test_missing_required_field() -> None:
    cfg = api_config()
    del cfg["symbols"]
    with pytest.raises(ConfigError) as err:
        parse_config(cfg)
    assert err.value.field == "symbols"


def test_catalog_shape() -> None:
    cat = templates_catalog()
    ids = [t["id"] for t in cat]
    assert ids == ["tpl_grid", "tpl_breakout", "tpl_sma_cross", "tpl_rsi_reversion"]
    for t in cat:
        assert set(t) == {"id", "name", "description", "params"}
        assert t["params"]["type"] == "object"
        assert t["params"]["additionalProperties"] is False


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"template_id": "tpl_nope"}, "template_id"),
        ({"params": {"grid_levels": 8, "upper_price": 72000.0}}, "params.lower_price"),
        ({"params": {"grid_levels": 8, "upper_price": 1.0, "lower_price": 2.0}},
         "params.upper_price"),
        ({"symbols": ()}, "symbols"),
        ({"symbols": ("BTCUSDT", "BTCUSDT")}, "symbols[1]"),
        ({"timeframe": "2h"}, "timeframe"),
        ({"end_ms": 1_735_689_600_000}, "end"),
        ({"capital": 0.0}, "capital"),
        ({"leverage": MAX_LEVERAGE + 1}, "leverage"),
        ({"fee_model": "free"}, "fee_model"),
        ({"fee_bps": None}, "fee_bps"),
        ({"fee_model": "tiered_maker_taker"}, "fee_bps"),
    ],
)
def test_check_config_applies_the_same_rules_to_a_config_object(
    over: dict[str, Any], field: str
) -> None:
    config = parse_config(api_config())
    check_config(config)
    with pytest.raises(ConfigError) as err:
        check_config(replace(config, **over))
    assert err.value.field == field, err.value


def test_leverage_cap_is_one_rule() -> None:
    config = parse_config(api_config(leverage=MAX_LEVERAGE))
    check_config(config)
    with pytest.raises(ConfigError, match=f"1 to {MAX_LEVERAGE}"):
        parse_config(api_config(leverage=MAX_LEVERAGE + 1))
    with pytest.raises(ConfigError, match=f"1 to {MAX_LEVERAGE}"):
        check_config(replace(config, leverage=MAX_LEVERAGE + 1))


def test_fee_models_are_the_registry_s() -> None:
    assert list(FEE_MODELS) == ["fixed_bps", "tiered_maker_taker"]
    with pytest.raises(ConfigError, match="fixed_bps, tiered_maker_taker"):
        parse_config(api_config(fee_model="free"))
