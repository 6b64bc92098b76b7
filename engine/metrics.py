"""The ten metrics of docs/engine.md ("Metrics"), one small function each.

Inputs: the portfolio equity curve E_0..E_n (E_0 = initial capital, E_i = equity
at the close of bar i) with its times t_0..t_n (t_0 = the first bar's open, t_i =
bar i's close), and the closed trades. Bar returns are r_i = E_i / E_{i-1} - 1 for
i = 1..n (r_i = 0 when E_{i-1} = 0; the runner ends a curve at a wipe-out, so this
is only a guard). Time is calendar time, never a bar count:

- Y = (t_n - t_0) / 365 days, the years the run spans (crypto trades every day);
- N = n / Y, the bars per year the series actually has: 8,760 for gapless 1h bars,
  ~261 for weekday-only daily bars. The same data at two timeframes, or with
  weekend gaps, is annualised by what it holds rather than a nominal calendar.

The risk-free rate is 0. A metric that is not defined for the data returns None
(never NaN or inf). Given N, Sharpe, Sortino and max drawdown are empyrical's
definitions; CAGR is (E_n / E_0)^(1 / Y) - 1, quantstats' calendar rule (empyrical
counts years as n / N with a fixed N, which is the same only for gapless data).
"""

from __future__ import annotations

import math

import numpy as np

from engine.timeframes import DAY_MS

YEAR_MS = 365 * DAY_MS


def bar_returns(equity: np.ndarray) -> np.ndarray:
    """r_i = E_i / E_{i-1} - 1, i = 1..n; 0 where E_{i-1} = 0."""
    prev = equity[:-1]
    safe = np.where(prev == 0.0, 1.0, prev)
    return np.where(prev == 0.0, 0.0, equity[1:] / safe - 1.0)


def sharpe(returns: np.ndarray, periods_per_year: float) -> float | None:
    """mean(r) / std(r, ddof=1) * sqrt(N). None if n < 2 or all r are equal."""
    if returns.shape[0] < 2 or returns.max() == returns.min():
        return None
    return float(returns.mean() / returns.std(ddof=1) * math.sqrt(periods_per_year))


def sortino(returns: np.ndarray, periods_per_year: float) -> float | None:
    """mean(r) * N / (sqrt(mean(min(r, 0)^2)) * sqrt(N)): downside deviation over all
    n returns with target 0. None if n < 2 or no return is negative."""
    if returns.shape[0] < 2:
        return None
    downside = math.sqrt(float(np.mean(np.square(np.minimum(returns, 0.0)))))
    if downside == 0.0:
        return None
    return float(returns.mean() * periods_per_year / (downside * math.sqrt(periods_per_year)))


def max_drawdown(equity: np.ndarray) -> float | None:
    """min_i (E_i / max_{j<=i} E_j - 1): a fraction <= 0 (0 = never below a prior peak).
    None if the curve is empty."""
    if equity.shape[0] == 0:
        return None
    peak = np.maximum.accumulate(equity)
    safe = np.where(peak == 0.0, 1.0, peak)
    return float(np.min(np.where(peak == 0.0, 0.0, equity / safe - 1.0)))


def years_spanned(times_ms: np.ndarray) -> float:
    """Y = (t_n - t_0) / 365 days; 0 for fewer than two times."""
    if times_ms.shape[0] < 2:
        return 0.0
    return float(times_ms[-1] - times_ms[0]) / YEAR_MS


def bars_per_year(n_returns: int, years: float) -> float | None:
    """N = n / Y, the observed bars per year. None if the run spans no time."""
    if n_returns < 1 or years <= 0.0:
        return None
    return n_returns / years


def cagr(equity: np.ndarray, years: float) -> float | None:
    """(E_n / E_0) ^ (1 / Y) - 1 over the calendar years Y the curve spans. -1 if
    E_n <= 0. None if n = 0, Y <= 0, E_0 <= 0, or the result overflows a float."""
    if equity.shape[0] < 2 or years <= 0.0 or equity[0] <= 0.0:
        return None
    growth = equity[-1] / equity[0]
    if growth <= 0.0:
        return -1.0
    try:
        return float(growth) ** (1.0 / years) - 1.0
    except OverflowError:  # a tiny sample annualised to astronomical growth
        return None


def calmar(cagr_value: float | None, max_drawdown_value: float | None) -> float | None:
    """cagr / |max_drawdown|. None if either is None or max_drawdown = 0."""
    if cagr_value is None or not max_drawdown_value:
        return None
    return cagr_value / abs(max_drawdown_value)


def win_rate(pnl: np.ndarray) -> float | None:
    """count(pnl > 0) / count(trades). None without trades."""
    if pnl.shape[0] == 0:
        return None
    return float(np.count_nonzero(pnl > 0.0) / pnl.shape[0])


def profit_factor(pnl: np.ndarray) -> float | None:
    """sum(pnl > 0) / |sum(pnl < 0)|. None if no trade lost money."""
    losses = -float(pnl[pnl < 0.0].sum())
    if losses == 0.0:
        return None
    return float(pnl[pnl > 0.0].sum()) / losses


def expected_value(pnl: np.ndarray) -> float | None:
    """mean(pnl): average net PnL per closed trade, quote currency. None without trades."""
    if pnl.shape[0] == 0:
        return None
    return float(pnl.mean())


def avg_trade_duration_seconds(entry_ms: np.ndarray, exit_ms: np.ndarray) -> int | None:
    """mean(exit - entry) in seconds, rounded half-even to an integer. None without trades."""
    if entry_ms.shape[0] == 0:
        return None
    return int(round(float(np.mean(exit_ms - entry_ms)) / 1000.0))


def compute_metrics(
    equity: np.ndarray,
    times_ms: np.ndarray,
    pnl: np.ndarray,
    entry_ms: np.ndarray,
    exit_ms: np.ndarray,
) -> dict[str, float | int | None]:
    r = bar_returns(equity)
    years = years_spanned(times_ms)
    per_year = bars_per_year(r.shape[0], years)
    mdd = max_drawdown(equity)
    growth = cagr(equity, years)
    return {
        "sharpe": sharpe(r, per_year) if per_year is not None else None,
        "sortino": sortino(r, per_year) if per_year is not None else None,
        "calmar": calmar(growth, mdd),
        "max_drawdown": mdd,
        "win_rate": win_rate(pnl),
        "profit_factor": profit_factor(pnl),
        "cagr": growth,
        "expected_value": expected_value(pnl),
        "total_trades": int(pnl.shape[0]),
        "avg_trade_duration_seconds": avg_trade_duration_seconds(entry_ms, exit_ms),
    }
