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
            "cagr": m.cagr(equity, r.shape[0] / periods),  # years as empyrical counts them
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
    assert m.calmar(m.cagr(flat, 9 / 365), 0.0) is None
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
    assert m.cagr(equity, 3 / 365) == -1.0
    assert np.array_equal(m.bar_returns(equity), [-0.5, -1.0, 0.0])


HOUR = 3_600_000
DAY = 24 * HOUR


def _random_walk(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100.0 * np.cumprod(np.r_[1.0, 1.0 + 2e-5 + 0.004 * rng.standard_normal(n)])


def test_gapless_bars_are_annualised_by_their_calendar() -> None:
    equity = _random_walk(2 * 8_760, 3)
    times = np.arange(equity.shape[0], dtype=np.int64) * HOUR
    got = m.compute_metrics(equity, times, np.empty(0), np.empty(0, np.int64),
                            np.empty(0, np.int64))
    r = m.bar_returns(equity)
    assert m.bars_per_year(r.shape[0], m.years_spanned(times)) == pytest.approx(8_760, rel=1e-12)
    assert got["sharpe"] == pytest.approx(empyrical.sharpe_ratio(r, annualization=8_760))
    assert got["cagr"] == pytest.approx(empyrical.annual_return(r, annualization=8_760))


def test_a_series_with_weekend_gaps_is_annualised_by_the_bars_it_has() -> None:
    """Weekday-only daily bars over two years: ~261 bars a year, not 365 (the old rule
    inflated Sharpe by sqrt(365 / 261) and compounded CAGR over too few years)."""
    days = np.arange(730, dtype=np.int64)
    weekdays = days[(days + 3) % 7 < 5]  # 1970-01-01 was a Thursday
    times = np.r_[weekdays * DAY, weekdays[-1] * DAY + DAY]
    equity = _random_walk(weekdays.shape[0], 5)
    r = m.bar_returns(equity)
    per_year = m.bars_per_year(r.shape[0], m.years_spanned(times))
    assert per_year == pytest.approx(365 * 5 / 7, rel=0.01)
    got = m.compute_metrics(equity, times, np.empty(0), np.empty(0, np.int64),
                            np.empty(0, np.int64))
    assert got["sharpe"] == pytest.approx(empyrical.sharpe_ratio(r, annualization=per_year))
    years = (times[-1] - times[0]) / (365 * DAY)
    assert got["cagr"] == pytest.approx((equity[-1] / equity[0]) ** (1 / years) - 1)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_the_same_path_at_two_timeframes_gives_the_same_cagr_and_close_ratios(
        seed: int) -> None:
    """Hourly equity of two years and the same curve sampled daily (what resampling
    keeps): CAGR is the same number, Sharpe and Sortino agree within the sampling noise
    of daily volatility over ~730 points."""
    hourly = _random_walk(2 * 8_760, seed)
    times = np.arange(hourly.shape[0], dtype=np.int64) * HOUR
    daily, daily_times = hourly[::24], times[::24]
    none = (np.empty(0), np.empty(0, np.int64), np.empty(0, np.int64))
    fine = m.compute_metrics(hourly, times, *none)
    coarse = m.compute_metrics(daily, daily_times, *none)
    assert coarse["cagr"] == pytest.approx(fine["cagr"], rel=1e-9)
    assert coarse["sharpe"] == pytest.approx(fine["sharpe"], rel=0.15)
    assert coarse["sortino"] == pytest.approx(fine["sortino"], rel=0.2)
