"""Engine compute benchmark: every template on one year of 1m BTCUSDT.

Run:  python -m benchmarks.engine [--data-dir DIR] [--runs 7]

DIR defaults to the app's store (<PIPAI_DATA_DIR>/market, i.e. .pipai/market),
where BTCUSDT is generated on first use (~1 s) and then reused.

Prints, per template, the median compute time of `simulate` (kernels + trades
+ all ten metrics; data already in memory, kernels warmed up) and bars/s,
beside references measured in the same run on the same bars: a bare numba loop
of the same grid logic (fills and mark-to-market only: no lots, trades, fee
tiers or metrics), and, when installed (the `bench` extra), vectorbt's SMA
pipeline (MA -> crossover signals -> Portfolio.from_signals -> stats) and
backtesting.py's event-driven SmaCross. Then the ratios: tpl_grid against the
bare loop, tpl_sma_cross against vectorbt and backtesting.py.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit

from engine import BacktestConfig, MarketDataStore, simulate, warm_up
from engine.marketdata.bars import Bars

YEAR_START = 1_735_689_600_000  # 2025-01-01T00:00:00Z
YEAR_END = 1_767_225_600_000  # 2026-01-01T00:00:00Z
GRID: dict[str, Any] = {"grid_levels": 8, "upper_price": 110_000.0, "lower_price": 80_000.0}
TEMPLATES: dict[str, dict[str, Any]] = {
    "tpl_grid": GRID,
    "tpl_breakout": {"lookback": 240},
    "tpl_sma_cross": {"fast": 60, "slow": 240},
    "tpl_rsi_reversion": {"period": 14, "oversold": 30, "overbought": 70},
}


@njit(cache=True)
def bare_grid_loop(open_, high, low, close, levels, qty, fee):
    """The same grid fills, naively: scan every cell on every leg, track cash and
    position, mark to market. No lots, trades, tiers, liquidation or metrics."""
    n_cells = qty.shape[0]
    holding = np.zeros(n_cells, dtype=np.bool_)
    cash = 0.0
    pos = 0.0
    p0 = open_[0]
    for j in range(n_cells):
        if levels[j] >= p0:
            holding[j] = True
            cash -= qty[j] * p0 * (1 + fee)
            pos += qty[j]
    equity = np.empty(open_.shape[0])
    last = p0
    for i in range(open_.shape[0]):
        if close[i] >= open_[i]:
            path = (last, open_[i], low[i], high[i], close[i])
        else:
            path = (last, open_[i], high[i], low[i], close[i])
        for k in range(4):
            a = path[k]
            b = path[k + 1]
            for j in range(n_cells):
                if b < a and not holding[j] and b <= levels[j] <= a:
                    holding[j] = True
                    cash -= qty[j] * levels[j] * (1 + fee)
                    pos += qty[j]
                elif b > a and holding[j] and a <= levels[j + 1] <= b:
                    holding[j] = False
                    cash += qty[j] * levels[j + 1] * (1 - fee)
                    pos -= qty[j]
        last = close[i]
        equity[i] = cash + pos * close[i]
    return equity


def median_seconds(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def line(label: str, seconds: float, n: int) -> None:
    print(f"  {label:<40} {seconds * 1e3:10.2f} ms  {n / seconds / 1e6:8.2f} M bars/s")


def reference_backtesting_py(bars: Bars, runs: int) -> tuple[float, int] | None:
    try:
        import pandas as pd
        from backtesting import Backtest, Strategy
        from backtesting.lib import crossover
        from backtesting.test import SMA
    except ImportError:
        print("  backtesting.py: not installed, skipped (pip install backtesting)")
        return None

    class SmaCross(Strategy):
        def init(self) -> None:
            self.fast = self.I(SMA, self.data.Close, 60)
            self.slow = self.I(SMA, self.data.Close, 240)

        def next(self) -> None:
            if crossover(self.fast, self.slow):
                self.position.close()
                self.buy()
            elif crossover(self.slow, self.fast):
                self.position.close()
                self.sell()

    frame = pd.DataFrame(
        {
            "Open": bars.open,
            "High": bars.high,
            "Low": bars.low,
            "Close": bars.close,
            "Volume": bars.volume,
        },
        index=pd.to_datetime(bars.open_time_ms, unit="ms"),
    )
    import backtesting.backtesting as bt_module

    bt_module._tqdm = lambda seq, **_: seq  # no progress bar on stderr
    bt = Backtest(frame, SmaCross, cash=10_000_000, commission=0.0005, finalize_trades=True)
    trades = int(bt.run()["# Trades"])
    return median_seconds(bt.run, max(1, runs // 3)), trades


def reference_vectorbt(bars: Bars, runs: int) -> tuple[float, int] | None:
    try:
        import vectorbt as vbt
    except ImportError:
        print("  vectorbt: not installed, skipped (pip install vectorbt)")
        return None
    import pandas as pd

    close = pd.Series(bars.close, index=pd.to_datetime(bars.open_time_ms, unit="ms"))

    def run() -> Any:
        fast = vbt.MA.run(close, 60)
        slow = vbt.MA.run(close, 240)
        # direction="both": entries go long, exits go short (stop-and-reverse, as ours)
        pf = vbt.Portfolio.from_signals(
            close,
            fast.ma_crossed_above(slow),
            fast.ma_crossed_below(slow),
            direction="both",
            fees=0.0005,
            init_cash=10_000.0,
        )
        return pf.stats()

    trades = int(run()["Total Trades"])  # the first call compiles vectorbt's kernels
    return median_seconds(run, runs), trades


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="market-data store (default: <PIPAI_DATA_DIR>/market)")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    if args.data_dir is None:
        from pipai.settings import Settings

        args.data_dir = Settings.from_env().market_dir

    store = MarketDataStore(args.data_dir)
    started = time.perf_counter()
    bars = store.bars("BTCUSDT", "1m", YEAR_START, YEAR_END)
    print(
        f"data: BTCUSDT 1m 2025 from {args.data_dir}, {len(bars):,} bars "
        f"(load/generate {time.perf_counter() - started:.2f} s)"
    )
    started = time.perf_counter()
    warm_up()
    print(f"warm_up(): {time.perf_counter() - started:.2f} s")
    n = len(bars)

    print(f"engine (simulate: kernels + trades + 10 metrics), median of {args.runs}:")
    engine: dict[str, float] = {}
    for template_id, params in TEMPLATES.items():
        config = BacktestConfig(
            template_id=template_id,
            params=params,
            symbols=("BTCUSDT",),
            timeframe="1m",
            start_ms=YEAR_START,
            end_ms=YEAR_END,
            capital=10_000.0,
            leverage=1,
            fee_model="fixed_bps",
            fee_bps=5.0,
        )
        result = simulate(config, {"BTCUSDT": bars})
        engine[template_id] = median_seconds(
            partial(simulate, config, {"BTCUSDT": bars}), args.runs
        )
        line(f"{template_id} ({result.metrics['total_trades']} trades)", engine[template_id], n)

    print("references:")
    levels = np.linspace(GRID["lower_price"], GRID["upper_price"], GRID["grid_levels"])
    qty = 10_000.0 / (len(levels) - 1) / levels[:-1]
    bare_grid_loop(bars.open, bars.high, bars.low, bars.close, levels, qty, 5e-4)
    bare = median_seconds(
        lambda: bare_grid_loop(bars.open, bars.high, bars.low, bars.close, levels, qty, 5e-4),
        args.runs,
    )
    line("bare numba grid loop (no trades/metrics)", bare, n)
    refs: dict[str, float] = {}
    for name, fn in (
        ("vectorbt SMA cross pipeline", reference_vectorbt),
        ("backtesting.py SmaCross", reference_backtesting_py),
    ):
        measured = fn(bars, args.runs)
        if measured is not None and not math.isnan(measured[0]):
            refs[name] = measured[0]
            line(f"{name} ({measured[1]} trades)", measured[0], n)

    print("ratios (reference time / engine time; > 1: the engine is faster):")
    ratios = {"tpl_grid vs bare numba grid loop": bare / engine["tpl_grid"]}
    for name, seconds in refs.items():
        ratios[f"tpl_sma_cross vs {name}"] = seconds / engine["tpl_sma_cross"]
    for label, ratio in ratios.items():
        print(f"  {label + ':':<48} {ratio:8.2f}")
    # One JSON line of the figures, last, so runs compare (docs/engine.md, "Performance").
    print(json.dumps({
        "bars": n, "runs": args.runs,
        **{f"{tid}_ms": round(s * 1e3, 2) for tid, s in engine.items()},
        "bare_grid_loop_ms": round(bare * 1e3, 2),
        "tpl_grid_vs_bare": round(ratios["tpl_grid vs bare numba grid loop"], 3),
    }))


if __name__ == "__main__":
    main()
