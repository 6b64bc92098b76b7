from __future__ import annotations

import empyrical
import numpy as np
import pytest

from engine import metrics as m


def _curves() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    out = []
    for n, drift, vol in ((500, 1e-4, 0.01), (2000, -2e-4, 0.02), (50, 3e-3, 0.05)):
        r = drift + vol * rng.standard_t(4, n)
        out.append(10_000.0 * np.cumprod(np.r_[1.0, 1.0 + r]))
    return out


@pytest.mark.parametrize("periods", [525_600.0, 8_760.0, 365.0])
def test_metrics_match_empyrical(periods: float) -> None:
    for equity in _curves():
        r = m.bar_returns(equity)
        ref = {
            "sharpe": empyrical.sharpe_ratio(r, annualization=periods),
            "sortino": empyrical.sortino_ratio(r, annualization=periods),
            "max_drawdown": empyrical.max_drawdown(r),
            "cagr": empyrical.annual_return(r, annualization=periods),
            "calmar": empyrical.calmar_ratio(r, annualization=periods),
        }
        ours = {
            "sharpe": m.sharpe(r, periods),
            "sortino": m.sortino(r, periods),
            "max_drawdown": m.max_drawdown(equity),
            "cagr": m.cagr(equity, periods),
        }
        ours["calmar"] = m.calmar(ours["cagr"], ours["max_drawdown"])
        for name, want in ref.items():
            got = ours[name]
            assert got is not None
            assert got == pytest.approx(want, rel=1e-9), name


def test_undefined_metrics_are_none() -> None:
    flat = np.full(10, 100.0)
    r = m.bar_returns(flat)
    assert m.sharpe(r, 365) is None
    assert m.sortino(r, 365) is None
    assert m.max_drawdown(flat) == 0.0
    assert m.calmar(m.cagr(flat, 365), 0.0) is None
    none = np.empty(0)
    assert m.win_rate(none) is None
    assert m.profit_factor(none) is None
    assert m.expected_value(none) is None
    assert m.avg_trade_duration_seconds(np.empty(0, np.int64), np.empty(0, np.int64)) is None
    assert m.profit_factor(np.array([1.0, 2.0])) is None  # no losing trade
    up = np.array([100.0, 101.0, 102.0])
    assert m.sortino(m.bar_returns(up), 365) is None  # no downside


def test_trade_metrics_by_hand() -> None:
    pnl = np.array([10.0, -5.0, 20.0, -5.0])
    assert m.win_rate(pnl) == 0.5
    assert m.profit_factor(pnl) == 3.0
    assert m.expected_value(pnl) == 5.0
    entry = np.array([0, 0, 60_000, 1_000], dtype=np.int64)
    exit_ = np.array([60_000, 120_000, 180_000, 61_500], dtype=np.int64)
    # durations 60, 120, 120, 60.5 s -> mean 90.125 -> 90
    assert m.avg_trade_duration_seconds(entry, exit_) == 90


def test_wipe_out_curve() -> None:
    equity = np.array([100.0, 50.0, 0.0, 0.0])
    assert m.max_drawdown(equity) == -1.0
    assert m.cagr(equity, 365) == -1.0
    assert np.array_equal(m.bar_returns(equity), [-0.5, -1.0, 0.0])
