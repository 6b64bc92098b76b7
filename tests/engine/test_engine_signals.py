"""Signal templates (breakout, SMA cross, RSI reversion) on hand-made bars."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from engine import BacktestConfig, simulate
from engine.kernels.breakout import breakout_kernel
from engine.kernels.rsi_reversion import rsi_reversion_kernel
from engine.kernels.sma_cross import sma_cross_kernel
from tests.engine.helpers import MIN, T0, closes_to_bars


def _config(tid: str, params: dict[str, float], fee_bps: float = 0.0) -> BacktestConfig:
    return BacktestConfig(
        template_id=tid,
        params=params,
        symbols=("TEST",),
        timeframe="1m",
        start_ms=T0,
        end_ms=T0 + 100 * MIN,
        capital=1000.0,
        leverage=1,
        fee_model="fixed_bps",
        fee_bps=fee_bps,
    )


def test_breakout_targets() -> None:
    b = closes_to_bars([10, 10, 10, 11, 11, 10, 9, 8, 9, 12])
    target = breakout_kernel(b.high, b.low, b.close, 3)
    # i=3: close 11 > max(high[0:3]) = 10 -> long; i=6: 9 < min(low[3:6]) = 10 -> short;
    # i=9: 12 > max(high[6:9]) = 10 -> long.
    assert target.tolist() == [0, 0, 0, 1, 1, 1, -1, -1, -1, 1]


def test_breakout_trades_at_next_open() -> None:
    b = closes_to_bars([10, 10, 10, 11, 11, 10, 9, 8, 9, 12])
    r = simulate(_config("tpl_breakout", {"lookback": 3}), {"TEST": b})
    t1, t2 = r.trades[0], r.trades[1]
    # long from bar 4's open (11) to bar 7's open (9) with qty = 1000 / 11
    assert (t1.side, t1.entry_time_ms, t1.entry_price, t1.exit_price) == (
        "long",
        T0 + 4 * MIN,
        11.0,
        9.0,
    )
    assert t1.quantity == pytest.approx(1000 / 11)
    assert t1.pnl == pytest.approx(1000 / 11 * -2)
    assert (t2.side, t2.entry_price) == ("short", 9.0)
    assert r.equity[-1] == pytest.approx(1000 + sum(t.pnl for t in r.trades))


def test_sma_cross_targets() -> None:
    c = np.array([10, 10, 10, 11, 12, 13, 12, 11, 10, 9], dtype=np.float64)
    target = sma_cross_kernel(c, 2, 3)
    ref = []
    pos = 0.0
    for i in range(len(c)):
        if i >= 2:
            d = c[i - 1 : i + 1].mean() - c[i - 2 : i + 1].mean()
            pos = 1.0 if d > 0 else (-1.0 if d < 0 else pos)
        ref.append(pos)
    assert target.tolist() == ref == [0, 0, 0, 1, 1, 1, 1, -1, -1, -1]


def _rsi_reference(c: np.ndarray, period: int) -> np.ndarray:
    d = np.diff(c)
    g, loss = np.clip(d, 0, None), np.clip(-d, 0, None)
    ag, al = g[:period].mean(), loss[:period].mean()
    out = [np.nan] * period
    out.append(100 - 100 / (1 + ag / al))
    for i in range(period, len(d)):
        ag = (ag * (period - 1) + g[i]) / period
        al = (al * (period - 1) + loss[i]) / period
        out.append(100 - 100 / (1 + ag / al))
    return np.array(out)


def test_rsi_reversion_targets() -> None:
    c = np.array([50, 51, 50, 49, 48, 47, 46, 47, 48, 49, 50, 51, 52, 53, 54, 53], dtype=np.float64)
    rsi = _rsi_reference(c, 4)
    target = rsi_reversion_kernel(c, 4, 30.0, 70.0)
    pos, ref = 0.0, []
    for i, v in enumerate(rsi):
        if i >= 4:
            if v < 30:
                pos = 1.0
            elif v > 70:
                pos = -1.0
            elif (pos > 0 and v >= 50) or (pos < 0 and v <= 50):
                pos = 0.0
        ref.append(pos)
    assert target.tolist() == ref
    assert 1.0 in ref and -1.0 in ref and ref.count(0.0) > 4


def test_signal_fees_are_taker_on_notional() -> None:
    b = closes_to_bars([10, 10, 10, 11, 11, 10, 9, 8, 9, 12])
    r = simulate(_config("tpl_breakout", {"lookback": 3}, fee_bps=10.0), {"TEST": b})
    t1 = r.trades[0]
    q = t1.quantity
    assert t1.fees == pytest.approx(q * 11 * 1e-3 + q * 9 * 1e-3)
    assert r.equity[-1] == pytest.approx(1000 + sum(t.pnl for t in r.trades))


def test_sleeves_on_different_timelines_are_aligned() -> None:
    a = closes_to_bars([10, 10, 11, 12])
    b = closes_to_bars([20, 21, 22, 23], t0=T0 + 2 * MIN)  # starts two minutes later
    cfg = BacktestConfig(
        template_id="tpl_breakout",
        params={"lookback": 2},
        symbols=("A", "B"),
        timeframe="1m",
        start_ms=T0,
        end_ms=T0 + 10 * MIN,
        capital=2000.0,
        leverage=1,
        fee_model="fixed_bps",
        fee_bps=0.0,
    )
    r = simulate(cfg, {"A": a, "B": b})
    assert r.equity_time_ms.tolist() == [T0 + i * MIN for i in range(7)]
    assert r.equity[0] == 2000.0  # B counts at its initial capital before its first bar
    assert r.equity[-1] == pytest.approx(2000.0 + sum(t.pnl for t in r.trades))


def test_a_wipe_out_ends_the_run_and_the_ratios_cover_the_live_span() -> None:
    from engine import metrics as m
    from engine.results import result_document

    closes = [100.0] * 10 + [100.0 + k for k in range(1, 11)] + [50.0] * 60
    config = dataclasses.replace(_config("tpl_sma_cross", {"fast": 2, "slow": 5}), leverage=10)
    r = simulate(config, {"TEST": closes_to_bars(closes)})
    crash = closes.index(50.0)  # the bar whose low went past the 10x long's liquidation
    assert r.wiped_out_at_ms == T0 + (crash + 1) * MIN  # that bar's close
    assert r.equity[-1] == 0.0 and (r.equity[:-1] > 0.0).all()
    assert r.equity_time_ms[-1] == r.wiped_out_at_ms and r.equity.shape[0] == crash + 2
    live = m.bar_returns(r.equity)
    per_year = m.bars_per_year(live.shape[0], m.years_spanned(r.equity_time_ms))
    assert per_year is not None
    assert r.metrics["sharpe"] == m.sharpe(live, per_year)  # no zero returns after the end
    assert r.metrics["cagr"] == -1.0
    assert result_document(r)["wiped_out_at"] == "2025-01-01T00:21:00Z"
    survivor = simulate(_config("tpl_sma_cross", {"fast": 2, "slow": 5}),
                        {"TEST": closes_to_bars(closes)})
    assert survivor.wiped_out_at_ms is None and result_document(survivor)["wiped_out_at"] is None


def test_the_result_document_compares_with_buy_and_hold() -> None:
    from engine.results import result_document

    closes = [100.0, 110.0, 99.0, 105.0, 120.0, 90.0, 95.0, 100.0, 101.0, 102.0]
    r = simulate(_config("tpl_breakout", {"lookback": 3}), {"TEST": closes_to_bars(closes)})
    assert r.benchmark_equity is not None
    assert r.benchmark_equity.tolist() == pytest.approx([1000.0 * c / 100.0 for c in
                                                         [100.0, *closes]])
    doc = result_document(r)
    assert doc["benchmark"]["kind"] == "buy_and_hold"
    assert doc["benchmark"]["total_return"] == "0.02"  # 100 -> 102, held
    assert set(doc["benchmark"]) == {"kind", "total_return", "cagr", "sharpe", "max_drawdown",
                                     "alpha", "beta", "information_ratio", "tracking_error"}
    assert doc["returns"]["monthly"][0]["period"] == "2025-01"
    assert doc["drawdowns"]["max_duration_seconds"] >= 0
