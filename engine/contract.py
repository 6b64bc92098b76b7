"""The engine's public contract: what the worker adapter and the API rely on.

Everything here is pure (no Kafka, no I/O). The worker (`workers.engine_worker`) turns a
RunBacktest work item into a `BacktestConfig` with `parse_config`, calls
`run_backtest`, and ships `result_document(result)` to the results topic. The
API validates a submitted config with the same `parse_config`, so a config the
API accepts is one the engine can run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Error codes a job can fail with (surface as `error.code` on a failed job).
UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
NO_DATA = "NO_DATA"
INVALID_CONFIG = "INVALID_CONFIG"
ENGINE_ERROR = "ENGINE_ERROR"


class ConfigError(ValueError):
    """A config that cannot be run; `field` is the dotted path of the culprit
    (e.g. ``params.grid_levels``), used by the API's INVALID_PARAMETER message."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class BacktestError(Exception):
    """A job that cannot complete for a reason of its input (unknown symbol,
    no data in range...). The worker reports it as JobFailed(code, message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class BacktestCancelled(Exception):
    """Raised by a progress callback to stop a running backtest at once."""


# Called with the fraction done in [0, 1]; may raise BacktestCancelled.
ProgressCallback = Callable[[float], None]


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    template_id: str
    params: dict[str, Any]  # decoded (decimal strings -> float, ints -> int)
    symbols: tuple[str, ...]
    timeframe: str  # one of 1m 5m 15m 1h 4h 1d
    start_ms: int  # inclusive, Unix ms UTC
    end_ms: int  # exclusive, Unix ms UTC
    capital: float
    leverage: int
    fee_model: str  # fixed_bps | tiered_maker_taker
    fee_bps: float | None = None
    slippage_model: str = "none"  # none | fixed_bps | volume_share (engine/slippage.py)
    slippage_bps: float | None = None
    instrument: str = "perpetual"  # perpetual (pays funding) | spot (leverage 1, none)


PERPETUAL, SPOT = "perpetual", "spot"
INSTRUMENTS = (PERPETUAL, SPOT)


@dataclass(frozen=True, slots=True)
class Trade:
    symbol: str
    side: str  # "long" | "short"
    entry_time_ms: int
    exit_time_ms: int
    entry_price: float
    exit_price: float
    quantity: float
    fees: float
    pnl: float  # net of fees and funding, quote currency
    funding: float = 0.0  # funding paid (> 0) or received (< 0) while open, quote currency


@dataclass(frozen=True, slots=True)
class BacktestResult:
    metrics: dict[str, float | int | None]  # the ten metrics of docs/engine.md, "Metrics"
    equity_time_ms: np.ndarray  # int64
    equity: np.ndarray  # float64, quote currency
    trades: list[Trade] = field(default_factory=list)
    # The close time of the bar where the portfolio was worth nothing; the curve ends there.
    wiped_out_at_ms: int | None = None
    # Buy-and-hold of the same symbols, equal weight, on equity_time_ms (docs/engine.md).
    benchmark_equity: np.ndarray | None = None
    funding_total: float = 0.0  # paid (> 0) or received (< 0) over the run
    funding_source: str = "none"  # import | synthetic | none (docs/engine.md, "Funding")
