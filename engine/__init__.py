"""PipAI backtest engine: pure, numba-compiled backtests over a local Parquet store.

Public API (see docs/engine.md): parse_config, run_backtest, result_document,
format_metrics, templates_catalog, MarketDataStore, warm_up, and the contract
types from engine.contract.
"""

from engine.config import parse_config
from engine.contract import (
    ENGINE_ERROR,
    INVALID_CONFIG,
    NO_DATA,
    UNKNOWN_SYMBOL,
    BacktestCancelled,
    BacktestConfig,
    BacktestError,
    BacktestResult,
    ConfigError,
    ProgressCallback,
    Trade,
)
from engine.marketdata.bars import Bars
from engine.marketdata.store import MarketDataStore
from engine.results import format_metrics, result_document
from engine.runner import run_backtest, simulate
from engine.templates import templates_catalog
from engine.warmup import warm_up

__all__ = [
    "ENGINE_ERROR",
    "INVALID_CONFIG",
    "NO_DATA",
    "UNKNOWN_SYMBOL",
    "BacktestCancelled",
    "BacktestConfig",
    "BacktestError",
    "BacktestResult",
    "Bars",
    "ConfigError",
    "MarketDataStore",
    "ProgressCallback",
    "Trade",
    "format_metrics",
    "parse_config",
    "result_document",
    "run_backtest",
    "simulate",
    "templates_catalog",
    "warm_up",
]
