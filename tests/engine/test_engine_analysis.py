"""The result's analysis (engine/analysis.py): benchmark figures, drawdown periods and
period returns, against empyrical-reloaded and hand-computed cases."""

from __future__ import annotations

import empyrical
import numpy as np
import pandas as pd
import pytest

from engine import analysis as a
from engine import metrics as m

HOUR = 3_600_000
DAY = 24 * HOUR


def _walk(n: int, seed: int, drift: float = 1e-5, vol: float = 0.004) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 1000.0 * np.cumprod(np.r_[1.0, 1.0 + drift + vol * rng.standard_normal(n)])


def _pair(n: int = 5_000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    bench = _walk(n, 1)
    noise = np.random.default_rng(2).standard_normal(n) * 0.002
    strategy = 1000.0 * np.cumprod(np.r_[1.0, 1.0 + 0.6 * m.bar_returns(bench) + 3e-5 + noise])
    return strategy, np.arange(n + 1, dtype=np.int64) * HOUR, bench


def test_alpha_beta_match_empyrical() -> None:
    strategy, times, bench = _pair()
    r, b = m.bar_returns(strategy), m.bar_returns(bench)
    per_year = m.bars_per_year(r.shape[0], m.years_spanned(times))
    want_alpha, want_beta = empyrical.alpha_beta(r, b, annualization=per_year)
    got = a.benchmark_figures(strategy, times, bench)
    assert got["beta"] == pytest.approx(want_beta, rel=1e-9)
    assert got["alpha"] == pytest.approx(want_alpha, rel=1e-9)
    assert per_year is not None
    want_ir = empyrical.excess_sharpe(r, b) * np.sqrt(per_year)
    assert got["information_ratio"] == pytest.approx(want_ir, rel=1e-9)
    assert got["tracking_error"] == pytest.approx(np.std(r - b, ddof=1) * np.sqrt(per_year))
    assert got["cagr"] == m.cagr(bench, m.years_spanned(times))
    assert got["total_return"] == pytest.approx(bench[-1] / 1000.0 - 1.0)


def test_buy_and_hold_against_itself() -> None:
    _, times, bench = _pair()
    got = a.benchmark_figures(bench, times, bench)
    assert got["beta"] == pytest.approx(1.0, abs=1e-12)
    assert got["alpha"] == pytest.approx(0.0, abs=1e-9)
    assert got["tracking_error"] == 0.0 and got["information_ratio"] is None


def test_drawdown_periods_by_hand() -> None:
    equity = np.array([100.0, 110, 99, 105, 110, 120, 90, 95])
    times = np.arange(8, dtype=np.int64) * DAY
    longest, worst = a.drawdowns(times, equity)
    assert [(d.peak_ms, d.trough_ms, d.recovery_ms) for d in worst] == [
        (5 * DAY, 6 * DAY, None),  # 120 -> 90, not recovered: the deepest first
        (1 * DAY, 2 * DAY, 4 * DAY),  # 110 -> 99, back at 110 on day 4
    ]
    assert worst[0].depth == pytest.approx(-0.25) and worst[1].depth == pytest.approx(-0.1)
    assert [d.length_s for d in worst] == [2 * 86_400, 3 * 86_400]
    assert longest == 3 * 86_400
    assert worst[0].depth == pytest.approx(empyrical.max_drawdown(m.bar_returns(equity)))


def test_worst_drawdowns_are_the_five_deepest_of_a_long_curve() -> None:
    equity = _walk(20_000, 4, vol=0.01)
    times = np.arange(equity.shape[0], dtype=np.int64) * HOUR
    _, worst = a.drawdowns(times, equity)
    assert len(worst) == 5
    assert [d.depth for d in worst] == sorted(d.depth for d in worst)
    assert worst[0].depth == pytest.approx(m.max_drawdown(equity))
    for d in worst:  # the trough is the lowest point between the peak and the recovery
        i, j = d.peak_ms // HOUR, (d.recovery_ms or times[-1]) // HOUR
        assert equity[d.trough_ms // HOUR] == equity[i:j + 1].min()


def test_period_returns_match_empyrical_aggregation() -> None:
    n = 14 * 30 * 24  # ~14 months of hourly bars from 2025-01-01
    equity = _walk(n, 6)
    t0 = 1_735_689_600_000
    times = t0 + np.arange(n + 1, dtype=np.int64) * HOUR
    # Indexed by close time less 1 ms: a bar closing at midnight on the 1st counts for
    # the month it ends, as engine/analysis.py assigns it.
    index = pd.to_datetime(times[1:] - 1, unit="ms", utc=True)
    returns = pd.Series(m.bar_returns(equity), index=index)
    for period, convert in (("month", "monthly"), ("year", "yearly")):
        got = a.period_returns(times, equity, period)
        want = empyrical.aggregate_returns(returns, convert_to=convert)
        assert [v for _, v in got] == pytest.approx(want.tolist(), rel=1e-9)
        assert len(got) == len(want)
    labels = [label for label, _ in a.period_returns(times, equity, "month")]
    assert labels[:2] == ["2025-01", "2025-02"] and labels[-1] == "2026-02"
    assert [label for label, _ in a.period_returns(times, equity, "year")] == ["2025", "2026"]


def test_lttb_keeps_the_ends_and_the_extremes() -> None:
    x = np.arange(10_000, dtype=np.float64)
    y = np.sin(x / 500.0) * 100
    y[4_321] = 1_000.0  # a spike a chart must show
    idx = a.lttb(x, y, 200)
    assert idx.shape[0] == 200 and idx[0] == 0 and idx[-1] == 9_999
    assert (np.diff(idx) > 0).all()  # in order, no repeats
    assert 4_321 in idx.tolist()
    assert a.lttb(x, y, 20_000).tolist() == list(range(10_000))  # more points than data


def test_lttb_of_a_line_is_evenly_spread() -> None:
    x = np.arange(1_001, dtype=np.float64)
    idx = a.lttb(x, 2 * x, 11)
    assert idx[0] == 0 and idx[-1] == 1_000 and len(set(idx.tolist())) == 11
