"""run_backtest end to end on the synthetic store: progress, cancel, errors, determinism."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine import (
    NO_DATA,
    UNKNOWN_SYMBOL,
    BacktestCancelled,
    BacktestError,
    BacktestResult,
    MarketDataStore,
    parse_config,
    run_backtest,
)
from tests.engine.helpers import api_config

ROOT = Path(__file__).resolve().parents[2]
WEEK = {"start": "2025-03-01T00:00:00Z", "end": "2025-03-08T00:00:00Z", "timeframe": "1m"}
GRID = {"grid_levels": 12, "upper_price": "95000", "lower_price": "80000"}


def result_hash(r: BacktestResult) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(r.metrics, sort_keys=True).encode())
    h.update(r.equity_time_ms.tobytes())
    h.update(r.equity.tobytes())
    for t in r.trades:
        h.update(
            repr(
                (
                    t.symbol,
                    t.side,
                    t.entry_time_ms,
                    t.exit_time_ms,
                    t.entry_price.hex(),
                    t.exit_price.hex(),
                    t.quantity.hex(),
                    t.fees.hex(),
                    t.pnl.hex(),
                )
            ).encode()
        )
    return h.hexdigest()


def test_progress_is_frequent_monotonic_and_ends_at_one(store: MarketDataStore) -> None:
    seen: list[float] = []
    config = parse_config(api_config(params=GRID, **WEEK))
    r = run_backtest(config, store, seen.append)
    assert seen[0] == 0.0 and seen[-1] == 1.0
    steps = np.diff(seen)
    assert steps.min() >= 0.0 and steps.max() <= 0.05
    assert r.metrics["total_trades"] == len(r.trades) > 0


def test_cancel_propagates(store: MarketDataStore) -> None:
    def cancel_late(fraction: float) -> None:
        if fraction > 0.3:
            raise BacktestCancelled()

    with pytest.raises(BacktestCancelled):
        run_backtest(parse_config(api_config(params=GRID, **WEEK)), store, cancel_late)


def test_unknown_symbol_and_no_data(store: MarketDataStore) -> None:
    with pytest.raises(BacktestError) as err:
        run_backtest(parse_config(api_config(symbols=["DOGEUSDT"], **WEEK)), store, lambda f: None)
    assert err.value.code == UNKNOWN_SYMBOL
    late = {"start": "2030-01-01T00:00:00Z", "end": "2030-02-01T00:00:00Z"}
    with pytest.raises(BacktestError) as err:
        run_backtest(parse_config(api_config(**late)), store, lambda f: None)
    assert err.value.code == NO_DATA


def test_bad_config_object_is_a_backtest_error(store: MarketDataStore) -> None:
    config = parse_config(api_config(**WEEK))
    broken = type(config)(
        **{
            **{f: getattr(config, f) for f in config.__slots__},  # type: ignore[attr-defined]
            "params": {},
        }
    )
    with pytest.raises(BacktestError) as err:
        run_backtest(broken, store, lambda f: None)
    assert err.value.code == "INVALID_CONFIG"


@pytest.mark.parametrize(
    "template",
    [
        ("tpl_grid", GRID),
        ("tpl_breakout", {"lookback": 60}),
        ("tpl_sma_cross", {"fast": 15, "slow": 60}),
        ("tpl_rsi_reversion", {"period": 14}),
    ],
)
def test_every_template_runs_and_balances(store: MarketDataStore, template: tuple) -> None:
    tid, params = template
    config = parse_config(
        api_config(
            template_id=tid,
            params=params,
            leverage=3,
            fee_model="tiered_maker_taker",
            fee_bps=None,
            **WEEK,
        )
    )
    r = run_backtest(config, store, lambda f: None)
    assert r.equity.shape == r.equity_time_ms.shape == (7 * 1440 + 1,)
    assert r.equity[-1] == pytest.approx(10_000 + sum(t.pnl for t in r.trades), rel=1e-9)
    assert set(r.metrics) == {
        "sharpe",
        "sortino",
        "calmar",
        "max_drawdown",
        "win_rate",
        "profit_factor",
        "cagr",
        "expected_value",
        "total_trades",
        "avg_trade_duration_seconds",
    }


def test_multi_symbol_splits_capital_and_sums_equity(store: MarketDataStore) -> None:
    both = parse_config(
        api_config(
            template_id="tpl_breakout",
            params={"lookback": 60},
            symbols=["BTCUSDT", "ETHUSDT"],
            capital="20000",
            **WEEK,
        )
    )
    r = run_backtest(both, store, lambda f: None)
    parts = [
        run_backtest(
            parse_config(
                api_config(
                    template_id="tpl_breakout",
                    params={"lookback": 60},
                    symbols=[s],
                    capital="10000",
                    **WEEK,
                )
            ),
            store,
            lambda f: None,
        )
        for s in ("BTCUSDT", "ETHUSDT")
    ]
    assert np.array_equal(r.equity, parts[0].equity + parts[1].equity)
    assert len(r.trades) == len(parts[0].trades) + len(parts[1].trades)
    assert {t.symbol for t in r.trades} == {"BTCUSDT", "ETHUSDT"}
    exits = [t.exit_time_ms for t in r.trades]
    assert exits == sorted(exits)


def test_determinism_in_process_and_across_processes(
    store: MarketDataStore, market_dir: Path
) -> None:
    cfg = api_config(params=GRID, **WEEK)
    h1 = result_hash(run_backtest(parse_config(cfg), store, lambda f: None))
    h2 = result_hash(run_backtest(parse_config(cfg), MarketDataStore(market_dir), lambda f: None))
    assert h1 == h2
    script = (
        "import json, sys\n"
        "from engine import MarketDataStore, parse_config, run_backtest\n"
        "from tests.engine.test_engine_runner import result_hash\n"
        f"cfg = json.loads({json.dumps(json.dumps(cfg))})\n"
        f"store = MarketDataStore({str(market_dir)!r})\n"
        "r = run_backtest(parse_config(cfg), store, lambda f: None)\n"
        "print(result_hash(r))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.stdout.strip() == h1
