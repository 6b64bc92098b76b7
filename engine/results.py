"""Shaping a BacktestResult into JSON-ready documents (Get Result, job summaries).

Number formatting (all decimal strings, rounded half-even on the float's exact
binary value, as Python's ``format(x, ".Nf")`` does; "-0" is written "0"):

- metrics (``format_metrics``): sharpe, sortino, calmar, max_drawdown, win_rate,
  profit_factor, cagr to 4 dp; expected_value (quote currency) to 2 dp; trailing
  zeros stripped ("1.8400" -> "1.84"); total_trades and
  avg_trade_duration_seconds are JSON integers; undefined metrics are null.
- equity curve points and trade pnl: quote currency, exactly 2 dp ("10000.00").
- trade fees, prices and quantities: up to 8 dp, trailing zeros stripped (fees
  are often fractions of a cent; 8 dp is the exchanges' own precision).
- times: ISO 8601 UTC with a Z, second precision ("2025-01-01T00:00:00Z").

Size bounds (the document stays well under 4 MB): the equity curve keeps every
k-th point, k = ceil((n - 1) / (max_equity_points - 1)), plus always the last
point; the trades list keeps the `max_trades` most recent (by exit time) and
``trades_total`` gives the full count.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson

from engine import analysis
from engine.contract import BacktestResult, Trade
from engine.equity_pages import encode_page

MAX_TRADES = 10_000
# Pages of the full lists (ResultPart messages): ~1.8 MB of trades, ~2.5 MB of points.
TRADES_PER_PART = 10_000
POINTS_PER_PART = 50_000
# The decimal-string metrics and their decimals, in document order (the integer ones,
# total_trades and avg_trade_duration_seconds, follow). The names are those of
# jobs.metric_names; engine does not import jobs, a unit test holds them equal.
METRIC_DECIMALS: dict[str, int] = {
    "sharpe": 4,
    "sortino": 4,
    "calmar": 4,
    "max_drawdown": 4,
    "win_rate": 4,
    "profit_factor": 4,
    "cagr": 4,
    "expected_value": 2,
}


def fixed(x: float, dp: int) -> str:
    """x rounded half-even to exactly `dp` decimals."""
    s = format(x, f".{dp}f")
    return s[1:] if s.startswith("-") and not s.strip("-0.") else s


def fixed_all(xs: list[float], dp: int) -> list[str]:
    """`fixed` of each of `xs`, formatted in one go: one %-format over the whole list
    runs in C (the same correctly rounded conversion as `format`), where a call per
    value cost ~8 ms on a one-year equity curve of ~9,000 points."""
    if not xs:
        return []
    text = (f"%.{dp}f;" * len(xs)) % tuple(xs)
    out = text.split(";")[:-1]
    if "-" not in text:
        return out
    return [fixed(x, dp) if s.startswith("-") else s for x, s in zip(xs, out, strict=True)]


def stripped_all(xs: list[float], dp: int) -> list[str]:
    """`stripped` of each of `xs`, from one `fixed_all`."""
    return [_strip(s) for s in fixed_all(xs, dp)]


def _strip(s: str) -> str:
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def stripped(x: float, dp: int) -> str:
    """x rounded half-even to at most `dp` decimals, trailing zeros removed."""
    return _strip(fixed(x, dp))


def format_metrics(metrics: dict[str, float | int | None]) -> dict[str, str | int | None]:
    """The job-summary metrics form of the seed pages (see the module docstring)."""
    out: dict[str, str | int | None] = {}
    for name, dp in METRIC_DECIMALS.items():
        out[name] = _decimal_or_none(metrics.get(name), dp)
    total = metrics.get("total_trades")
    out["total_trades"] = int(total) if total is not None else 0
    dur = metrics.get("avg_trade_duration_seconds")
    out["avg_trade_duration_seconds"] = int(dur) if dur is not None else None
    return out


def _decimal_or_none(x: float | int | None, dp: int) -> str | None:
    if x is None or not math.isfinite(float(x)):
        return None
    return stripped(float(x), dp)


def iso_times(ms: np.ndarray) -> list[str]:
    """Unix ms -> "YYYY-MM-DDTHH:MM:SSZ" (vectorised; bar times are whole seconds)."""
    text = np.datetime_as_string(np.asarray(ms, dtype="datetime64[ms]"), unit="s").tolist()
    return ("Z\n".join(text) + "Z").split("\n") if text else []


# The summary's `equity_curve` when the curve travels as binary pages instead (see
# `result_document`): the reader puts `summary_curve` of the pages in its place.
CURVE_IN_PAGES = "pages"
SUMMARY_POINTS = 10_000


def summary_index(n: int, max_points: int = SUMMARY_POINTS) -> np.ndarray:
    """The points of an n-point curve the summary keeps: every k-th, and the last."""
    keep = max(2, max_points)
    if n <= keep:
        return np.arange(n)
    k = math.ceil((n - 1) / (keep - 1))
    return np.unique(np.r_[np.arange(0, n - 1, k), n - 1])


def summary_curve(times_ms: np.ndarray, equity: np.ndarray,
                  max_points: int = SUMMARY_POINTS) -> list[dict[str, str]]:
    idx = summary_index(equity.shape[0], max_points)
    return equity_rows(times_ms[idx], equity[idx])


def result_document(
    result: BacktestResult, max_equity_points: int = SUMMARY_POINTS,
    max_trades: int = MAX_TRADES, curve_in_pages: bool = False,
) -> dict[str, Any]:
    """The Get Result body: {"metrics", "equity_curve", "trades", "trades_total",
    "wiped_out_at" (the time the portfolio was worth nothing and the run ended, or null),
    "benchmark", "drawdowns", "returns"}. With `curve_in_pages` the curve is left out
    (`CURVE_IN_PAGES` in its place): it travels as binary pages, formatted on read."""
    equity_curve: Any = CURVE_IN_PAGES if curve_in_pages else summary_curve(
        result.equity_time_ms, result.equity, max_equity_points)
    trades = trade_rows(result.trades[-max_trades:] if max_trades > 0 else [])
    return {
        "metrics": format_metrics(result.metrics),
        "equity_curve": equity_curve,
        "trades": trades,
        "trades_total": len(result.trades),
        "wiped_out_at": None if result.wiped_out_at_ms is None
        else _iso(result.wiped_out_at_ms),
        "funding": {"total": fixed(result.funding_total, 2), "source": result.funding_source},
        **analysis_sections(result),
    }


_CURVE_TIMES: dict[bytes, list[str]] = {}  # a curve's time column -> its ISO strings
_CURVE_TIMES_KEPT = 8


def curve_times(times_ms: np.ndarray) -> list[str]:
    """The ISO strings of a curve's times, kept for the last few columns seen: a sweep's
    children share their data slice, so their curves share the time column, and its
    strings were a seventh of a one-year 1h child's work (benchmarks/sweep.py)."""
    key = np.ascontiguousarray(times_ms, dtype=np.int64).tobytes()
    found = _CURVE_TIMES.get(key)
    if found is None:
        if len(_CURVE_TIMES) >= _CURVE_TIMES_KEPT:
            _CURVE_TIMES.pop(next(iter(_CURVE_TIMES)))
        found = _CURVE_TIMES[key] = iso_times(times_ms)
    return found


def equity_rows(times_ms: np.ndarray, equity: np.ndarray) -> list[dict[str, str]]:
    """Curve points {"time", "equity"}: equity to exactly 2 dp."""
    times = curve_times(times_ms)
    return [{"time": t, "equity": e}
            for t, e in zip(times, fixed_all(equity.tolist(), 2), strict=True)]


def trade_rows(trades: list[Trade]) -> list[dict[str, str]]:
    """Trades as the documents list them (prices, quantities, fees to at most 8 dp);
    each number column formatted in one go."""
    entry = iso_times(np.array([t.entry_time_ms for t in trades], dtype=np.int64))
    exit_ = iso_times(np.array([t.exit_time_ms for t in trades], dtype=np.int64))
    columns = zip(
        entry, exit_,
        stripped_all([t.entry_price for t in trades], 8),
        stripped_all([t.exit_price for t in trades], 8),
        stripped_all([t.quantity for t in trades], 8),
        stripped_all([t.fees for t in trades], 8),
        fixed_all([t.pnl for t in trades], 2),
        stripped_all([t.funding for t in trades], 8),
        strict=True,
    )
    return [
        {"symbol": t.symbol, "side": t.side, "entry_time": et, "exit_time": xt,
         "entry_price": ep, "exit_price": xp, "quantity": q, "fees": f, "pnl": pnl,
         "funding": fu}
        for t, (et, xt, ep, xp, q, f, pnl, fu) in zip(trades, columns, strict=True)
    ]


def result_parts(result: BacktestResult, document: dict[str, Any] | None = None,
                 binary_equity: bool = False) -> Iterator[tuple[str, int, int, str | bytes]]:
    """The full trade list and equity curve in pages (kind, index, parts, rows as JSON),
    for the paged endpoints (docs/api.md, "Trades and equity"): `TRADES_PER_PART` trades
    or `POINTS_PER_PART` curve points a page, each well under the results topic's message
    size. Every kind has at least one page (an empty one if there is nothing). Rows the
    summary `document` already holds in full are reused, not formatted again. A
    generator: the caller hears from the engine between pages (a two-year 1m run on five
    symbols has ~1M points and ~120k trades, over a second to write). With
    `binary_equity` the curve's pages are bytes (engine/equity_pages.py)."""
    for kind, total, size in _page_sizes(result):
        listed = (document or {}).get("trades" if kind == "trades" else "equity_curve")
        whole: list[dict[str, str]] | None = (
            listed if isinstance(listed, list) and listed and len(listed) == total else None)
        parts = max(1, math.ceil(total / size))
        for index in range(parts):
            lo, hi = index * size, min(total, (index + 1) * size)
            text: str | bytes
            if kind == "equity" and binary_equity:
                text = encode_page(result.equity_time_ms[lo:hi], result.equity[lo:hi])
            elif whole is not None:
                text = orjson.dumps(whole[lo:hi]).decode()
            elif kind == "trades":
                text = orjson.dumps(trade_rows(result.trades[lo:hi])).decode()
            else:
                text = equity_json(result.equity_time_ms[lo:hi], result.equity[lo:hi])
            yield kind, index, parts, text


def page_count(result: BacktestResult) -> int:
    """How many pages `result_parts` yields."""
    return sum(max(1, math.ceil(total / size)) for _, total, size in _page_sizes(result))


def _page_sizes(result: BacktestResult) -> tuple[tuple[str, int, int], ...]:
    return (("trades", len(result.trades), TRADES_PER_PART),
            ("equity", result.equity.shape[0], POINTS_PER_PART))


def equity_json(times_ms: np.ndarray, equity: np.ndarray) -> str:
    """`equity_rows` as JSON text, the same bytes orjson writes for them, formatted by
    one %-format in C (building a dict per point was most of a 1M-point page's time)."""
    n = equity.shape[0]
    if n == 0:
        return "[]"
    cells: list[str] = [""] * (2 * n)
    cells[0::2] = curve_times(times_ms)
    cells[1::2] = fixed_all(equity.tolist(), 2)
    return "[" + ('{"time":"%s","equity":"%s"},' * n % tuple(cells))[:-1] + "]"


def _iso(ms: int) -> str:
    return iso_times(np.array([ms], dtype=np.int64))[0]


def analysis_sections(result: BacktestResult) -> dict[str, Any]:
    """"benchmark", "drawdowns" and "returns" (docs/engine.md, "Analysis"): ratios and
    returns as 4-dp decimal strings like the metrics, lengths in whole seconds."""
    times, equity = result.equity_time_ms, result.equity
    out: dict[str, Any] = {}
    if result.benchmark_equity is not None:
        figures = analysis.benchmark_figures(equity, times, result.benchmark_equity)
        out["benchmark"] = {"kind": "buy_and_hold",
                            **{k: _decimal_or_none(v, 4) for k, v in figures.items()}}
    longest, worst = analysis.drawdowns(times, equity)
    out["drawdowns"] = {
        "max_duration_seconds": longest,
        "worst": [{"peak": _iso(d.peak_ms), "trough": _iso(d.trough_ms),
                   "recovery": None if d.recovery_ms is None else _iso(d.recovery_ms),
                   "depth": _decimal_or_none(d.depth, 4), "length_seconds": d.length_s}
                  for d in worst],
    }
    out["returns"] = {
        name: [{"period": label, "return": _decimal_or_none(value, 4)}
               for label, value in analysis.period_returns(times, equity, period)]
        for name, period in (("monthly", "month"), ("yearly", "year"))}
    return out
