"""Strategy templates: ids, descriptions and JSON-Schema parameter schemas.

The schema is the single source of truth for a template's parameters: the API
serves it (GET /v1/backtest/templates), `parse_config` validates against it and
fills in defaults, and `check` adds the cross-field rules a schema cannot say
(e.g. upper_price > lower_price). Prices are decimal strings like every money
amount in the API; counts are integers; RSI thresholds are plain numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.contract import ConfigError

DECIMAL_PATTERN = r"^[0-9]{1,20}(\.[0-9]{1,18})?$"


def _decimal(description: str) -> dict[str, Any]:
    return {
        "type": "string",
        "format": "decimal",
        "pattern": DECIMAL_PATTERN,
        "x-exclusiveMinimum": "0",
        "description": description,
    }


@dataclass(frozen=True, slots=True)
class Template:
    id: str
    name: str
    description: str
    params: dict[str, Any]  # JSON Schema (object)
    check: Callable[[dict[str, Any]], None]  # cross-field rules on decoded params

    def catalog_entry(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "params": self.params,
        }


def _check_grid(p: dict[str, Any]) -> None:
    if not p["upper_price"] > p["lower_price"]:
        raise ConfigError("params.upper_price", "must be greater than lower_price")


def _check_sma(p: dict[str, Any]) -> None:
    if not p["fast"] < p["slow"]:
        raise ConfigError("params.slow", "must be greater than fast")


def _check_rsi(p: dict[str, Any]) -> None:
    if not p["oversold"] < 50 < p["overbought"]:
        raise ConfigError("params.overbought", "need oversold < 50 < overbought")


def _no_check(p: dict[str, Any]) -> None:
    return None


def _schema(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": False,
    }


TEMPLATES: dict[str, Template] = {
    t.id: t
    for t in (
        Template(
            "tpl_grid",
            "Grid trading",
            "Evenly spaced price levels from lower_price to upper_price. Each cell between "
            "two adjacent levels trades one fixed quantity: a resting limit buy at its lower "
            "level, then a resting limit sell at its upper level, again and again. Cells above "
            "the first bar's open are bought at market at the start (as exchange grid bots do). "
            "Capital x leverage is split equally across cells. Limit fills are maker fills.",
            _schema(
                {
                    "grid_levels": {
                        "type": "integer",
                        "minimum": 2,
                        "maximum": 500,
                        "description": "Number of price levels including both bounds "
                        "(cells = grid_levels - 1).",
                    },
                    "upper_price": _decimal("Highest level, quote currency; > lower_price."),
                    "lower_price": _decimal("Lowest level, quote currency; > 0."),
                },
                ["grid_levels", "upper_price", "lower_price"],
            ),
            _check_grid,
        ),
        Template(
            "tpl_breakout",
            "Donchian breakout",
            "Stop-and-reverse on a Donchian channel: at a bar's close above the highest high "
            "of the previous `lookback` bars go long, below the lowest low go short; the "
            "position is taken with a market order at the next bar's open, sized to "
            "equity x leverage.",
            _schema(
                {
                    "lookback": {
                        "type": "integer",
                        "minimum": 2,
                        "maximum": 10_000,
                        "description": "Channel length in bars.",
                    },
                },
                ["lookback"],
            ),
            _no_check,
        ),
        Template(
            "tpl_sma_cross",
            "SMA crossover",
            "Long while the fast simple moving average of closes is above the slow one, short "
            "while below; changes are market orders at the next bar's open, sized to "
            "equity x leverage.",
            _schema(
                {
                    "fast": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 10_000,
                        "default": 20,
                        "description": "Fast SMA length in bars; < slow.",
                    },
                    "slow": {
                        "type": "integer",
                        "minimum": 2,
                        "maximum": 20_000,
                        "default": 50,
                        "description": "Slow SMA length in bars.",
                    },
                },
                [],
            ),
            _check_sma,
        ),
        Template(
            "tpl_rsi_reversion",
            "RSI mean reversion",
            "Wilder RSI: go long when it closes below `oversold`, short when above "
            "`overbought`, and go flat when it crosses back through 50. Market orders at the "
            "next bar's open, sized to equity x leverage.",
            _schema(
                {
                    "period": {
                        "type": "integer",
                        "minimum": 2,
                        "maximum": 1_000,
                        "default": 14,
                        "description": "RSI length in bars (Wilder smoothing).",
                    },
                    "oversold": {
                        "type": "number",
                        "exclusiveMinimum": 0,
                        "exclusiveMaximum": 50,
                        "default": 30,
                        "description": "Long entry threshold; < 50.",
                    },
                    "overbought": {
                        "type": "number",
                        "exclusiveMinimum": 50,
                        "exclusiveMaximum": 100,
                        "default": 70,
                        "description": "Short entry threshold; > 50.",
                    },
                },
                [],
            ),
            _check_rsi,
        ),
    )
}


def templates_catalog() -> list[dict[str, Any]]:
    """Every template as served by GET /v1/backtest/templates:
    ``{"id", "name", "description", "params": <JSON Schema object>}``."""
    return [t.catalog_entry() for t in TEMPLATES.values()]
