"""The config rules, written once: validation of the API's job config dict into a
`BacktestConfig` (`parse_config`), and the same rules on a config object that may
not come from it (`check_config`, which the runner applies before a run).

Pure: no data store, no clock, so the API can validate a submission with the
very function the worker uses to run it. Every rejection is a `ConfigError`
naming the offending field with its dotted path (``params.grid_levels``,
``symbols[1]``, ``end``). Unknown fields are rejected rather than ignored, so a
typo never silently runs a different backtest. Templates come from
`engine.templates.TEMPLATES`, fee models from `engine.fees.FEE_MODELS`, slippage
models from `engine.slippage.SLIPPAGE_MODELS`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from engine.contract import INSTRUMENTS, PERPETUAL, SPOT, BacktestConfig, ConfigError
from engine.fees import FEE_MODELS, FeeModel
from engine.slippage import DEFAULT_SLIPPAGE, SLIPPAGE_MODELS, SlippageModel
from engine.templates import Template, template
from engine.templates.base import DECIMAL_PATTERN
from engine.timeframes import TIMEFRAMES

MAX_SYMBOLS = 10
MAX_LEVERAGE = 125
MAX_FEE_BPS = 1_000.0
MAX_SLIPPAGE_BPS = 1_000.0
MAX_CAPITAL = 1e12

_DECIMAL = re.compile(DECIMAL_PATTERN)  # the templates' decimal params follow the same rule
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
    "slippage_model",
    "slippage_bps",
    "instrument",
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
    tpl = template(_require(config, "template_id"))
    params = _parse_params(tpl, config.get("params", {}))
    symbols = _check_symbols(_require(config, "symbols"))
    timeframe = _check_timeframe(_require(config, "timeframe"))
    start_ms = _parse_instant("start", _require(config, "start"))
    end_ms = _check_span(start_ms, _parse_instant("end", _require(config, "end")))
    capital = _check_capital(_parse_decimal("capital", _require(config, "capital")))
    leverage = _check_leverage(_require(config, "leverage"))
    fee_model = _fee_model(_require(config, "fee_model"))
    fee_bps = _parse_fee_bps(fee_model, config.get("fee_bps"))
    slippage = _slippage_model(config.get("slippage_model", DEFAULT_SLIPPAGE))
    slippage_bps = _parse_slippage_bps(slippage, config.get("slippage_bps"))
    instrument = _check_instrument(config.get("instrument", PERPETUAL), leverage)
    return BacktestConfig(
        template_id=tpl.id,
        params=params,
        symbols=tuple(symbols),
        timeframe=timeframe,
        start_ms=start_ms,
        end_ms=end_ms,
        capital=capital,
        leverage=leverage,
        fee_model=fee_model.id,
        fee_bps=fee_bps,
        slippage_model=slippage.id,
        slippage_bps=slippage_bps,
        instrument=instrument,
    )


def check_config(config: BacktestConfig) -> None:
    """The rules of parse_config on an already decoded config (it may have been built
    by hand): raises ConfigError on the first problem."""
    tpl = template(config.template_id)
    for name in tpl.params["properties"]:
        if name not in config.params:
            raise ConfigError(f"params.{name}", "is required")
    tpl.check(config.params)
    _check_symbols(list(config.symbols))
    _check_timeframe(config.timeframe)
    _check_span(config.start_ms, config.end_ms)
    _check_capital(config.capital)
    _check_leverage(config.leverage)
    _check_fee_bps(_fee_model(config.fee_model), config.fee_bps)
    _check_slippage_bps(_slippage_model(config.slippage_model), config.slippage_bps)
    _check_instrument(config.instrument, config.leverage)


def _require(config: dict[str, Any], key: str) -> Any:
    if key not in config or config[key] is None:
        raise ConfigError(key, "is required")
    return config[key]


def _check_symbols(symbols: Any) -> list[str]:
    if not isinstance(symbols, list) or not 1 <= len(symbols) <= MAX_SYMBOLS:
        raise ConfigError("symbols", f"must be a list of 1 to {MAX_SYMBOLS} symbols")
    for i, s in enumerate(symbols):
        if not isinstance(s, str) or not _SYMBOL.match(s):
            raise ConfigError(f"symbols[{i}]", "must be an upper-case symbol like BTCUSDT")
        if s in symbols[:i]:
            raise ConfigError(f"symbols[{i}]", f"duplicate symbol {s}")
    return symbols


def _check_timeframe(timeframe: Any) -> str:
    if timeframe not in TIMEFRAMES:
        raise ConfigError("timeframe", f"must be one of {', '.join(TIMEFRAMES)}")
    return str(timeframe)


def _check_span(start_ms: int, end_ms: int) -> int:
    if end_ms <= start_ms:
        raise ConfigError("end", "must be after start")
    return end_ms


def _check_capital(capital: float) -> float:
    if not 0 < capital <= MAX_CAPITAL:
        raise ConfigError("capital", f"must be > 0 and <= {MAX_CAPITAL:.0f}")
    return capital


def _check_leverage(leverage: Any) -> int:
    if (
        not isinstance(leverage, int)
        or isinstance(leverage, bool)
        or not 1 <= leverage <= MAX_LEVERAGE
    ):
        raise ConfigError("leverage", f"must be an integer from 1 to {MAX_LEVERAGE}")
    return leverage


def _fee_model(fee_model: Any) -> FeeModel:
    if not isinstance(fee_model, str) or fee_model not in FEE_MODELS:
        raise ConfigError("fee_model", f"must be one of {', '.join(FEE_MODELS)}")
    return FEE_MODELS[fee_model]


def _check_instrument(instrument: Any, leverage: int) -> str:
    """perpetual (funding paid, docs/engine.md "Funding") or spot (leverage 1, no funding)."""
    if instrument not in INSTRUMENTS:
        raise ConfigError("instrument", f"must be one of {', '.join(INSTRUMENTS)}")
    if instrument == SPOT and leverage != 1:
        raise ConfigError("leverage", "must be 1 for instrument spot")
    return str(instrument)


def _slippage_model(name: Any) -> SlippageModel:
    if not isinstance(name, str) or name not in SLIPPAGE_MODELS:
        raise ConfigError("slippage_model", f"must be one of {', '.join(SLIPPAGE_MODELS)}")
    return SLIPPAGE_MODELS[name]


@dataclass(frozen=True)
class _BpsRule:
    """A model's optional bps setting: `field` is required when the model takes it and
    forbidden otherwise, at most `most`."""

    field: str
    models_field: str
    takers: str  # the models that take it, for the messages
    most: float


_FEE_BPS = _BpsRule("fee_bps", "fee_model",
                    " or ".join(m.id for m in FEE_MODELS.values() if m.takes_bps), MAX_FEE_BPS)
_SLIPPAGE_BPS = _BpsRule("slippage_bps", "slippage_model",
                         " or ".join(m.id for m in SLIPPAGE_MODELS.values() if m.takes_bps),
                         MAX_SLIPPAGE_BPS)


def _parse_fee_bps(model: FeeModel, raw: Any) -> float | None:
    return _parse_bps(_FEE_BPS, model.takes_bps, raw)


def _check_fee_bps(model: FeeModel, fee_bps: Any) -> float | None:
    return _check_bps(_FEE_BPS, model.takes_bps, fee_bps)


def _parse_slippage_bps(model: SlippageModel, raw: Any) -> float | None:
    return _parse_bps(_SLIPPAGE_BPS, model.takes_bps, raw)


def _check_slippage_bps(model: SlippageModel, bps: Any) -> float | None:
    return _check_bps(_SLIPPAGE_BPS, model.takes_bps, bps)


def _parse_bps(rule: _BpsRule, takes: bool, raw: Any) -> float | None:
    if takes and raw is not None:
        return _check_bps(rule, takes, _parse_decimal(rule.field, raw))
    return _check_bps(rule, takes, raw)


def _check_bps(rule: _BpsRule, takes: bool, bps: Any) -> float | None:
    if not takes:
        if bps is not None:
            raise ConfigError(rule.field, f"only allowed when {rule.models_field} is "
                              f"{rule.takers}")
        return None
    if bps is None:
        raise ConfigError(rule.field, f"required when {rule.models_field} is {rule.takers}")
    if bps > rule.most:
        raise ConfigError(rule.field, f"must be <= {rule.most:.0f}")
    return float(bps)


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


def _parse_params(tpl: Template, raw: Any) -> dict[str, Any]:
    """Validate against the template's JSON Schema (the subset our schemas use:
    type integer/number/string+decimal, minimum/maximum, exclusive bounds,
    required, default, additionalProperties false) then its cross-field check."""
    if not isinstance(raw, dict):
        raise ConfigError("params", "must be an object")
    schema = tpl.params
    props: dict[str, Any] = schema["properties"]
    for key in raw:
        if key not in props:
            raise ConfigError(f"params.{key}", f"unknown parameter for {tpl.id}")
    out: dict[str, Any] = {}
    for name, prop in props.items():
        field = f"params.{name}"
        if name not in raw or raw[name] is None:
            if name in schema["required"]:
                raise ConfigError(field, "is required")
            out[name] = prop["default"]
            continue
        out[name] = _parse_value(field, prop, raw[name])
    tpl.check(out)
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
    _check_bounds(field, prop, number)
    return value


def _check_bounds(field: str, prop: dict[str, Any], number: float) -> None:
    if "minimum" in prop and number < prop["minimum"]:
        raise ConfigError(field, f"must be >= {prop['minimum']}")
    if "maximum" in prop and number > prop["maximum"]:
        raise ConfigError(field, f"must be <= {prop['maximum']}")
    if "exclusiveMinimum" in prop and not number > prop["exclusiveMinimum"]:
        raise ConfigError(field, f"must be > {prop['exclusiveMinimum']}")
    if "exclusiveMaximum" in prop and not number < prop["exclusiveMaximum"]:
        raise ConfigError(field, f"must be < {prop['exclusiveMaximum']}")
