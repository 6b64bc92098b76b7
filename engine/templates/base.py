"""What a strategy template is: one object holding everything the engine knows of it.

A template declares its catalog entry (id, name, description and the JSON Schema
of its params, served as-is by GET /v1/backtest/templates), the cross-field
rules the schema cannot say (`check`), how a sleeve's fills come from its params
and bars (`feed`), and the small params `warm_up` compiles its kernels with.
`parse_config` validates params against the schema and then calls `check`; the
runner calls `feed`; `warm_up` reads `warm_up_params`. Signal templates (a
kernel computing a -1/0/+1 target per bar) only say how to compute the target.
Prices are decimal strings like every money amount in the API; counts are
integers; RSI thresholds are plain numbers. See docs/engine.md, "How to add a
template".
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from engine.feeds import FillFeed, OrderListFeed
from engine.marketdata.bars import Bars

DECIMAL_PATTERN = r"^[0-9]{1,20}(\.[0-9]{1,18})?$"

# Decoded params: decimal strings are floats, integers ints (see engine.config).
Params = Mapping[str, Any]


def decimal_param(description: str) -> dict[str, Any]:
    """Schema of a price parameter: a decimal string > 0."""
    return {
        "type": "string",
        "format": "decimal",
        "pattern": DECIMAL_PATTERN,
        "x-exclusiveMinimum": "0",
        "description": description,
    }


def object_schema(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """Schema of a params object: these properties and no others."""
    return {
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": False,
    }


class Template(ABC):
    id: ClassVar[str]
    name: ClassVar[str]
    description: ClassVar[str]
    params: ClassVar[dict[str, Any]]  # JSON Schema (object), see object_schema
    # Decoded params for warm_up: small, valid, and of the types real jobs decode to.
    warm_up_params: ClassVar[dict[str, Any]]

    def check(self, params: Params) -> None:
        """Cross-field rules on decoded params; raise ConfigError("params.<name>", ...)."""
        return None

    @abstractmethod
    def feed(self, bars: Bars, params: Params, capital: float, leverage: int) -> FillFeed:
        """The fills of one symbol sleeve with `capital` at `leverage` on `bars`."""

    def catalog_entry(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "params": self.params,
        }


class SignalTemplate(Template):
    """Decides at a bar's close, trades a market order at the next bar's open,
    sized to equity x leverage (the account kernel sizes target orders)."""

    @abstractmethod
    def target(self, bars: Bars, params: Params) -> np.ndarray:
        """Target position per bar: -1 short, 0 flat, +1 long (float64)."""

    def feed(self, bars: Bars, params: Params, capital: float, leverage: int) -> FillFeed:
        return OrderListFeed(bars, self.target(bars, params))
