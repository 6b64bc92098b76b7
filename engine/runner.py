"""Running a backtest: load bars, drive the kernels chunk by chunk, shape the result.

Portfolio model: the capital is split equally across the job's symbols; each
symbol is an independent *sleeve* (its own cash, positions, isolated margin,
fee tier volume and liquidation). Portfolio equity at a time is the sum of the
sleeves' equities (a sleeve whose data has not started yet counts at its
initial capital; after its last bar it keeps its last value).

Work is split into chunks of at most 65,536 bars and at most 1/25 of the job,
and `progress` is called after each, so a cancelling callback is heard within a
few milliseconds of compute. Loading (and first-use generation) of a symbol's
data is one step; it is reported before and after.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping

import numpy as np

from engine.config import check_config
from engine.contract import (
    ENGINE_ERROR,
    INVALID_CONFIG,
    NO_DATA,
    PERPETUAL,
    UNKNOWN_SYMBOL,
    BacktestCancelled,
    BacktestConfig,
    BacktestError,
    BacktestResult,
    ConfigError,
    ProgressCallback,
    Trade,
)
from engine.feeds import FillFeed
from engine.fees import FeeTiers, fee_tiers
from engine.kernels.account import account_kernel, new_account_state
from engine.marketdata.bars import Bars
from engine.marketdata.funding import funding_series
from engine.marketdata.store import MarketDataStore
from engine.metrics import compute_metrics
from engine.slippage import SLIPPAGE_MODELS
from engine.templates import template
from engine.timeframes import TIMEFRAME_MS

MAINTENANCE_MARGIN_RATE = 0.005  # 0.5% of position notional
MAX_CHUNK_BARS = 65_536
MIN_PROGRESS_STEPS = 25
_LOAD_SHARE = 0.05  # progress fraction given to loading data

# numba dispatchers are opaque to mypy; this alias states what the call returns.
_account_kernel: Callable[..., tuple[np.ndarray, ...]] = account_kernel

_TRADE_FIELDS = ("side", "entry_ms", "exit_ms", "entry_px", "exit_px", "qty", "fees", "pnl",
                 "funding")
_NO_FUNDING = (np.empty(0, dtype=np.int64), np.empty(0))
Funding = Mapping[str, tuple[np.ndarray, np.ndarray]]  # symbol -> (funding times, rates)


def _no_progress(fraction: float) -> None:
    return None


def run_backtest(
    config: BacktestConfig, store: MarketDataStore, progress: ProgressCallback
) -> BacktestResult:
    """Run `config` on `store`'s data. Raises BacktestError(code, message) for any
    failure (UNKNOWN_SYMBOL, NO_DATA, INVALID_CONFIG, ENGINE_ERROR), or lets the
    callback's BacktestCancelled through."""
    try:
        check_config(config)
        progress(0.0)
        for symbol in config.symbols:
            if not store.has_symbol(symbol):
                raise BacktestError(UNKNOWN_SYMBOL, f"no market data for symbol {symbol!r}")
        bars: dict[str, Bars] = {}
        funding: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        sources: set[str] = set()
        for k, symbol in enumerate(config.symbols):
            b = store.bars(symbol, config.timeframe, config.start_ms, config.end_ms)
            if len(b) == 0:
                raise BacktestError(
                    NO_DATA, f"no {config.timeframe} bars for {symbol} in the requested range"
                )
            bars[symbol] = b
            if config.instrument == PERPETUAL:
                times, rates, source = funding_series(
                    store.root, symbol, store.synthetic, config.start_ms, config.end_ms)
                funding[symbol] = (times, rates)
                sources.add(source)
            progress(_LOAD_SHARE * (k + 1) / len(config.symbols))
        result = simulate(config, bars, progress, progress_from=_LOAD_SHARE, funding=funding)
        return dataclasses.replace(result, funding_source="+".join(sorted(sources)) or "none")
    except (BacktestError, BacktestCancelled):
        raise
    except ConfigError as exc:
        raise BacktestError(INVALID_CONFIG, str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - the contract: never another exception type
        raise BacktestError(ENGINE_ERROR, f"{type(exc).__name__}: {exc}") from exc


def simulate(
    config: BacktestConfig,
    bars_by_symbol: Mapping[str, Bars],
    progress: ProgressCallback = _no_progress,
    progress_from: float = 0.0,
    funding: Funding | None = None,
) -> BacktestResult:
    """The compute part of a backtest on bars already in memory (no I/O); `funding`
    gives each perpetual symbol's funding series (none: no funding paid)."""
    symbols = list(config.symbols)
    total = sum(len(bars_by_symbol[s]) for s in symbols)
    chunk = max(256, min(MAX_CHUNK_BARS, math.ceil(total / MIN_PROGRESS_STEPS)))
    sleeve_capital = config.capital / len(symbols)
    tpl = template(config.template_id)
    tiers = fee_tiers(config.fee_model, config.fee_bps)
    meter = _ProgressMeter(progress, progress_from, total)
    curves: list[tuple[np.ndarray, np.ndarray]] = []
    holds: list[tuple[np.ndarray, np.ndarray]] = []
    trade_parts: list[tuple[int, tuple[np.ndarray, ...]]] = []
    for sym_index, symbol in enumerate(symbols):
        bars = bars_by_symbol[symbol]
        feed = tpl.feed(bars, config.params, sleeve_capital, config.leverage)
        rates = (funding or {}).get(symbol, _NO_FUNDING)
        times, equity, parts = _run_sleeve(config, bars, feed, sleeve_capital, tiers, chunk, meter,
                                           rates)
        curves.append((times, equity))
        holds.append((times, _buy_and_hold(bars, sleeve_capital)))
        trade_parts.extend((sym_index, part) for part in parts)
    eq_time, eq, wiped_out_at = _until_wipe_out(*_portfolio_curve(curves, sleeve_capital))
    benchmark = _portfolio_curve(holds, sleeve_capital)[1][: eq.shape[0]]
    trades_cols, trade_symbols = _merge_trades(trade_parts, symbols)
    metrics = compute_metrics(
        eq,
        eq_time,
        trades_cols["pnl"],
        trades_cols["entry_ms"],
        trades_cols["exit_ms"],
    )
    trades = _trade_objects(trades_cols, trade_symbols, symbols)
    progress(1.0)
    return BacktestResult(metrics=metrics, equity_time_ms=eq_time, equity=eq, trades=trades,
                          wiped_out_at_ms=wiped_out_at, benchmark_equity=benchmark,
                          funding_total=float(trades_cols["funding"].sum()))


def _buy_and_hold(bars: Bars, capital: float) -> np.ndarray:
    """The sleeve's capital in the symbol at its first open, held (no fees, no leverage):
    the benchmark's curve on the sleeve's times (docs/engine.md, "Analysis")."""
    held = np.empty(len(bars) + 1)
    held[0] = capital
    np.multiply(bars.close, capital / bars.open[0], out=held[1:])
    return held


def _until_wipe_out(
    times: np.ndarray, equity: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int | None]:
    """The curve up to the first point where the portfolio is worth nothing, and that
    point's time (None if it never is). Every sleeve is liquidated to exactly 0 by then
    and trades no more: the run ends there, so the metrics cover the span the strategy
    was alive (docs/engine.md, "Wipe-out") rather than zero returns until the window ends."""
    if equity.shape[0] == 0 or equity.min() > 0.0:
        return times, equity, None
    dead = np.flatnonzero(equity <= 0.0)
    end = int(dead[0]) + 1
    return times[:end], equity[:end], int(times[end - 1])


class _ProgressMeter:
    """Reports the share of the job's bars simulated, from `start` up to 0.99 (1.0 is
    reported once trades and metrics are done)."""

    def __init__(self, callback: ProgressCallback, start: float, total_bars: int) -> None:
        self.callback = callback
        self.start = start
        self.span = 0.99 - start
        self.total = total_bars
        self.done = 0

    def advance(self, bars: int) -> None:
        self.done += bars
        self.callback(self.start + self.span * self.done / self.total)


def _run_sleeve(
    config: BacktestConfig,
    bars: Bars,
    feed: FillFeed,
    capital: float,
    tiers: FeeTiers,
    chunk: int,
    meter: _ProgressMeter,
    funding: tuple[np.ndarray, np.ndarray] = _NO_FUNDING,
) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, ...]]]:
    """One symbol sleeve, chunk by chunk: (equity times, equity, trade column parts)."""
    n = len(bars)
    tf_ms = TIMEFRAME_MS[config.timeframe]
    state = new_account_state(capital, feed.n_tags)
    slippage = SLIPPAGE_MODELS[config.slippage_model].kernel_args(config.slippage_bps)
    equity = np.empty(n + 1)
    equity[0] = capital
    parts: list[tuple[np.ndarray, ...]] = []
    for i0 in range(0, n, chunk):
        i1 = min(n, i0 + chunk)
        fills = feed.fills(i0, i1)
        part = _account_kernel(
            bars.open_time_ms,
            bars.open,
            bars.high,
            bars.low,
            bars.close,
            bars.volume,
            tf_ms,
            i0,
            i1,
            i1 == n,
            *fills,
            float(config.leverage),
            MAINTENANCE_MARGIN_RATE,
            *slippage,
            *funding,
            *tiers,
            *state.values(),  # new_account_state keeps the kernel's argument order
            equity,
        )
        if part[0].shape[0]:
            parts.append(part)
        meter.advance(i1 - i0)
    times = np.empty(n + 1, dtype=np.int64)
    times[0] = bars.open_time_ms[0]
    times[1:] = bars.open_time_ms + tf_ms
    return times, equity, parts


def _portfolio_curve(
    curves: list[tuple[np.ndarray, np.ndarray]], sleeve_capital: float
) -> tuple[np.ndarray, np.ndarray]:
    if len(curves) == 1:
        return curves[0]  # one sleeve: its own curve (nothing else holds it)
    t0 = curves[0][0]
    if all(t.shape == t0.shape and np.array_equal(t, t0) for t, _ in curves):
        total = curves[0][1].copy()
        for _, e in curves[1:]:
            total += e
        return t0, total
    times = np.unique(np.concatenate([t for t, _ in curves]))
    total = np.zeros(times.shape[0])
    for t, e in curves:
        idx = np.searchsorted(t, times, side="right") - 1
        total += np.where(idx >= 0, e[np.maximum(idx, 0)], sleeve_capital)
    return times, total


def _merge_trades(
    parts: list[tuple[int, tuple[np.ndarray, ...]]], symbols: list[str]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    if not parts:
        empty_i = np.empty(0, dtype=np.int64)
        empty_f = np.empty(0)
        cols = {
            f: (empty_i if f in ("side", "entry_ms", "exit_ms") else empty_f) for f in _TRADE_FIELDS
        }
        return cols, empty_i
    cols = {f: np.concatenate([p[k] for _, p in parts]) for k, f in enumerate(_TRADE_FIELDS)}
    sym = np.concatenate([np.full(p[0].shape[0], s, dtype=np.int64) for s, p in parts])
    # Chronological by exit; ties keep symbol order then emission order (stable sort).
    order = np.lexsort((sym, cols["exit_ms"]))
    return {f: c[order] for f, c in cols.items()}, sym[order]


def _trade_objects(cols: dict[str, np.ndarray], sym: np.ndarray, symbols: list[str]) -> list[Trade]:
    names = [symbols[i] for i in sym.tolist()]
    return [
        Trade(symbol, "long" if side > 0 else "short", entry, exit_, ep, xp, q, f, pnl, fund)
        for symbol, side, entry, exit_, ep, xp, q, f, pnl, fund in zip(
            names,
            cols["side"].tolist(),
            cols["entry_ms"].tolist(),
            cols["exit_ms"].tolist(),
            cols["entry_px"].tolist(),
            cols["exit_px"].tolist(),
            cols["qty"].tolist(),
            cols["fees"].tolist(),
            cols["pnl"].tolist(),
            cols["funding"].tolist(),
            strict=True,
        )
    ]
