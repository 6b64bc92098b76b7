"""What a result adds to the ten metrics (docs/engine.md, "Analysis"): the strategy
against buy-and-hold, its drawdown periods, and its returns by month and by year.

Inputs are the curves of engine/metrics.py: equity E_0..E_n at times t_0..t_n, and
the buy-and-hold benchmark's B_0..B_n on the same times. Bar returns r_i and b_i,
N = the bars per year the series has (engine.metrics.bars_per_year). Pure numpy; a
figure that is not defined for the data is None.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from engine import metrics as m

WORST_DRAWDOWNS = 5


def beta(r: np.ndarray, b: np.ndarray) -> float | None:
    """cov(r, b) / var(b). None if n < 2 or the benchmark never moved."""
    if r.shape[0] < 2:
        return None
    centred = b - b.mean()
    variance = float(np.mean(centred * centred))
    if variance == 0.0:
        return None
    return float(np.mean(centred * r)) / variance


def alpha(r: np.ndarray, b: np.ndarray, beta_value: float | None,
          per_year: float | None) -> float | None:
    """(1 + mean(r - beta x b))^N - 1: the annualised return not explained by the
    benchmark (empyrical's definition, risk-free 0). None if beta or N is."""
    if beta_value is None or per_year is None:
        return None
    try:
        return float((1.0 + float(np.mean(r - beta_value * b))) ** per_year - 1.0)
    except OverflowError:
        return None


def tracking_error(r: np.ndarray, b: np.ndarray, per_year: float | None) -> float | None:
    """std(r - b, ddof=1) x sqrt(N). None if n < 2."""
    if r.shape[0] < 2 or per_year is None:
        return None
    return float(np.std(r - b, ddof=1)) * math.sqrt(per_year)


def information_ratio(r: np.ndarray, b: np.ndarray, per_year: float | None) -> float | None:
    """mean(r - b) x N / tracking_error: the annualised active return per unit of active
    risk. None if the active return never varies."""
    te = tracking_error(r, b, per_year)
    if te is None or te == 0.0 or per_year is None:
        return None
    return float(np.mean(r - b)) * per_year / te


def benchmark_figures(equity: np.ndarray, times_ms: np.ndarray,
                      bench: np.ndarray) -> dict[str, float | None]:
    r, b = m.bar_returns(equity), m.bar_returns(bench)
    years = m.years_spanned(times_ms)
    per_year = m.bars_per_year(r.shape[0], years)
    beta_value = beta(r, b)
    return {
        "total_return": float(bench[-1] / bench[0] - 1.0) if bench[0] > 0.0 else None,
        "cagr": m.cagr(bench, years),
        "sharpe": m.sharpe(b, per_year) if per_year is not None else None,
        "max_drawdown": m.max_drawdown(bench),
        "alpha": alpha(r, b, beta_value, per_year),
        "beta": beta_value,
        "information_ratio": information_ratio(r, b, per_year),
        "tracking_error": tracking_error(r, b, per_year),
    }


@dataclass(frozen=True)
class Drawdown:
    peak_ms: int  # the last time at the peak
    trough_ms: int
    recovery_ms: int | None  # the first time back at the peak; None: not recovered
    depth: float  # trough / peak - 1, < 0
    length_s: int  # peak to recovery, or to the end of the curve


def drawdowns(times_ms: np.ndarray, equity: np.ndarray,
              worst: int = WORST_DRAWDOWNS) -> tuple[int, list[Drawdown]]:
    """(the longest drawdown in seconds, the `worst` deepest, deepest first). A drawdown
    is a run of points below the running peak, from the peak it fell from to the first
    point back at (or above) that peak; vectorised, a 1m year has tens of thousands."""
    if equity.shape[0] < 2:
        return 0, []
    peak = np.maximum.accumulate(equity)
    edges = np.diff(np.r_[0, (equity < peak).astype(np.int8), 0])
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # [start, stop)
    if starts.shape[0] == 0:
        return 0, []
    tops = equity[starts - 1]
    lows = np.minimum.reduceat(equity, starts)
    safe = np.where(tops > 0.0, tops, 1.0)
    depths = np.where(tops > 0.0, lows / safe - 1.0, -1.0)
    ends = times_ms[np.minimum(stops, equity.shape[0] - 1)]
    lengths = (ends - times_ms[starts - 1]) // 1000
    order = np.lexsort((starts, depths))[:worst]  # deepest first, earlier first on a tie
    out = []
    for k in order.tolist():
        a, z = int(starts[k]), int(stops[k])
        trough = a + int(np.argmin(equity[a:z]))
        out.append(Drawdown(
            peak_ms=int(times_ms[a - 1]), trough_ms=int(times_ms[trough]),
            recovery_ms=int(times_ms[z]) if z < equity.shape[0] else None,
            depth=float(depths[k]), length_s=int(lengths[k])))
    return int(lengths.max()), out


def period_returns(times_ms: np.ndarray, equity: np.ndarray,
                   period: str) -> list[tuple[str, float]]:
    """(label, compounded return) per calendar month ("2025-01") or year ("2025"), UTC.
    Bar i belongs to the period holding its close t_i less 1 ms, so a bar closing on
    the boundary counts for the period it ends; a period's return is its last equity
    over the equity before its first bar, less 1."""
    if equity.shape[0] < 2:
        return []
    last, labels = _period_ends(times_ms, "M" if period == "month" else "Y")
    before = equity[np.r_[0, last[:-1]]]
    values = equity[last]
    returns = np.where(before > 0.0, values / np.where(before > 0.0, before, 1.0) - 1.0, 0.0)
    return [(label, float(value)) for label, value in zip(labels, returns.tolist(),
                                                           strict=True)]


_PERIOD_ENDS: OrderedDict[tuple[bytes, str], tuple[np.ndarray, list[str]]] = OrderedDict()
_PERIOD_ENDS_KEPT = 16


def _period_ends(times_ms: np.ndarray, unit: str) -> tuple[np.ndarray, list[str]]:
    """(index into the curve of each period's last point, the periods' labels), kept for
    the last few time columns: a sweep's children share theirs, and the calendar
    arithmetic was most of a one-year 1h child's returns section."""
    key = (np.ascontiguousarray(times_ms, dtype=np.int64).tobytes(), unit)
    found = _PERIOD_ENDS.get(key)
    if found is None:
        periods = (times_ms[1:] - 1).astype("datetime64[ms]").astype(f"datetime64[{unit}]")
        last = np.flatnonzero(np.r_[periods[1:] != periods[:-1], True]) + 1
        found = (last, [str(label) for label in periods[last - 1].astype(str)])
        if len(_PERIOD_ENDS) >= _PERIOD_ENDS_KEPT:
            _PERIOD_ENDS.popitem(last=False)
        _PERIOD_ENDS[key] = found
    return found


def lttb(x: np.ndarray, y: np.ndarray, points: int) -> np.ndarray:
    """Indices of `points` samples of the series (x, y) chosen by Largest-Triangle-Three-
    Buckets (S. Steinarsson, "Downsampling Time Series for Visual Representation", 2013):
    the first and last points, and from each of `points` - 2 equal buckets between them
    the point forming the largest triangle with the previous choice and the next
    bucket's mean, so peaks and troughs survive. All indices if `points` >= len."""
    n = x.shape[0]
    if points >= n or points < 3:
        return np.arange(n) if points >= n else np.array([0, n - 1][:max(points, 1)])
    edges = np.linspace(1, n - 1, points - 1).astype(np.int64)  # buckets over 1..n-2
    chosen = np.empty(points, dtype=np.int64)
    chosen[0], chosen[-1] = 0, n - 1
    a = 0
    for k in range(points - 2):
        lo, hi = edges[k], max(edges[k + 1], edges[k] + 1)
        nlo, nhi = hi, (edges[k + 2] if k + 2 < points - 1 else n)
        nx, ny = x[nlo:max(nhi, nlo + 1)].mean(), y[nlo:max(nhi, nlo + 1)].mean()
        area = np.abs((x[a] - nx) * (y[lo:hi] - y[a]) - (x[a] - x[lo:hi]) * (ny - y[a]))
        a = lo + int(np.argmax(area))
        chosen[k + 1] = a
    return chosen
