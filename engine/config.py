"""Validation of the API's job config dict into a `BacktestConfig`.

Pure: no data store, no clock, so the API can validate a submission with the
very function the worker uses to run it. Every rejection is a `ConfigError`
naming the offending field with its dotted path (``params.grid_levels``,
``symbols[1]``, ``end``). Unknown fields are rejected rather than ignored, so a
typo never silently runs a different backtest.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

from engine.contract import BacktestConfig, ConfigError
from engine.templates.catalog import TEMPLATES
from engine.timeframes import TIMEFRAMES

FEE_MODELS = ("fixed_bps", "tiered_maker_taker")
MAX_SYMBOLS = 10
MAX_LEVERAGE = 125
MAX_FEE_BPS = 1_000.0
MAX_CAPITAL = 1e12

_DECIMAL = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,18})?$")
_SYMBOL = re.compile(r"^[A-Z0-9]{2,30}$")
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
_FIELDS = {
    "template_id",
    "params",
    "symbols",
    "timeframe",
    "start",
    "end",
    "capital",
    "leverage",
    "fee_model",
    "fee_bps",
}


def parse_config(config: dict[str, Any]) -> BacktestConfig:
    """Validate a whole job config (the `config` object of Create Job) and decode it.

    Decimal strings become floats, timestamps Unix ms, template params get their
    schema defaults. Raises ConfigError(field, message) on the first problem.
    """
    if not isinstance(config, dict):
        raise ConfigError("config", "must be an object")
    for key in config:
        if key not in _FIELDS:
            raise ConfigError(str(key), "unknown field")

    template_id = _require(config, "template_id")
    if not isinstance(template_id, str) or template_id not in TEMPLATES:
        raise ConfigError("template_id", f"unknown template; one of {sorted(TEMPLATES)}")
    params = _parse_params(template_id, config.get("params", {}))

    symbols = _require(config, "symbols")
    if not isinstance(symbols, list) or not 1 <= len(symbols) <= MAX_SYMBOLS:
        raise ConfigError("symbols", f"must be a list of 1 to {MAX_SYMBOLS} symbols")
    for i, s in enumerate(symbols):
        if not isinstance(s, str) or not _SYMBOL.match(s):
            raise ConfigError(f"symbols[{i}]", "must be an upper-case symbol like BTCUSDT")
        if s in symbols[:i]:
            raise ConfigError(f"symbols[{i}]", f"duplicate symbol {s}")

    timeframe = _require(config, "timeframe")
    if timeframe not in TIMEFRAMES:
        raise ConfigError("timeframe", f"must be one of {', '.join(TIMEFRAMES)}")

    start_ms = _parse_instant("start", _require(config, "start"))
    end_ms = _parse_instant("end", _require(config, "end"))
    if end_ms <= start_ms:
        raise ConfigError("end", "must be after start")

    capital = _parse_decimal("capital", _require(config, "capital"))
    if not 0 < capital <= MAX_CAPITAL:
        raise ConfigError("capital", f"must be > 0 and <= {MAX_CAPITAL:.0f}")

    leverage = _require(config, "leverage")
    if (
        not isinstance(leverage, int)
        or isinstance(leverage, bool)
        or not 1 <= leverage <= MAX_LEVERAGE
    ):
        raise ConfigError("leverage", f"must be an integer from 1 to {MAX_LEVERAGE}")

    fee_model = _require(config, "fee_model")
    if fee_model not in FEE_MODELS:
        raise ConfigError("fee_model", f"must be one of {', '.join(FEE_MODELS)}")
    fee_bps: float | None = None
    raw_fee = config.get("fee_bps")
    if fee_model == "fixed_bps":
        if raw_fee is None:
            raise ConfigError("fee_bps", "required when fee_model is fixed_bps")
        fee_bps = _parse_decimal("fee_bps", raw_fee)
        if fee_bps > MAX_FEE_BPS:
            raise ConfigError("fee_bps", f"must be <= {MAX_FEE_BPS:.0f}")
    elif raw_fee is not None:
        raise ConfigError("fee_bps", "only allowed when fee_model is fixed_bps")

    return BacktestConfig(
        template_id=template_id,
        params=params,
        symbols=tuple(symbols),
        timeframe=timeframe,
        start_ms=start_ms,
        end_ms=end_ms,
        capital=capital,
        leverage=leverage,
        fee_model=fee_model,
        fee_bps=fee_bps,
    )


def _require(config: dict[str, Any], key: str) -> Any:
    if key not in config or config[key] is None:
        raise ConfigError(key, "is required")
    return config[key]


def _parse_decimal(field: str, value: Any) -> float:
    if not isinstance(value, str) or not _DECIMAL.match(value):
        raise ConfigError(field, 'must be a non-negative decimal string like "10000.00"')
    return float(value)


def _parse_instant(field: str, value: Any) -> int:
    if not isinstance(value, str) or not _INSTANT.match(value):
        raise ConfigError(field, "must be an ISO 8601 UTC timestamp like 2025-01-01T00:00:00Z")
    try:
        dt = datetime.fromisoformat(value[:-1]).replace(tzinfo=UTC)
    except ValueError as exc:
        raise ConfigError(field, f"invalid date/time: {exc}") from None
    return int(round(dt.timestamp() * 1000))


def _parse_params(template_id: str, raw: Any) -> dict[str, Any]:
    """Validate against the template's JSON Schema (the subset our schemas use:
    type integer/number/string+decimal, minimum/maximum, exclusive bounds,
    required, default, additionalProperties false) then its cross-field check."""
    template = TEMPLATES[template_id]
    if not isinstance(raw, dict):
        raise ConfigError("params", "must be an object")
    schema = template.params
    props: dict[str, Any] = schema["properties"]
    for key in raw:
        if key not in props:
            raise ConfigError(f"params.{key}", f"unknown parameter for {template_id}")
    out: dict[str, Any] = {}
    for name, prop in props.items():
        field = f"params.{name}"
        if name not in raw or raw[name] is None:
            if name in schema["required"]:
                raise ConfigError(field, "is required")
            out[name] = prop["default"]
            continue
        out[name] = _parse_value(field, prop, raw[name])
    template.check(out)
    return out


def _parse_value(field: str, prop: dict[str, Any], value: Any) -> Any:
    kind = prop["type"]
    if kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(field, "must be an integer")
        number: float = value
    elif kind == "number":
        if (
            not isinstance(value, (int, float))
            or isinstance(value, bool)
            or not math.isfinite(value)
        ):
            raise ConfigError(field, "must be a number")
        number = value
    else:  # decimal string
        number = _parse_decimal(field, value)
        low = prop.get("x-exclusiveMinimum")
        if low is not None and not number > float(low):
            raise ConfigError(field, f"must be greater than {low}")
        return number
    if "minimum" in prop and number < prop["minimum"]:
        raise ConfigError(field, f"must be >= {prop['minimum']}")
    if "maximum" in prop and number > prop["maximum"]:
        raise ConfigError(field, f"must be <= {prop['maximum']}")
    if "exclusiveMinimum" in prop and not number > prop["exclusiveMinimum"]:
        raise ConfigError(field, f"must be > {prop['exclusiveMinimum']}")
    if "exclusiveMaximum" in prop and not number < prop["exclusiveMaximum"]:
        raise ConfigError(field, f"must be < {prop['exclusiveMaximum']}")
    return value
