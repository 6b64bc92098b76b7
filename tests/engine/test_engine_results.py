"""result_document and format_metrics: shapes, rounding, bounds."""

from __future__ import annotations

import json

import numpy as np

from engine import BacktestResult, Trade, format_metrics, result_document
from engine.results import METRIC_DECIMALS, fixed, fixed_all, iso_times, stripped
from jobs.metric_names import DECIMAL_METRICS, METRIC_NAMES
from tests.engine.helpers import MIN, T0


def test_format_metrics_rounding_and_none() -> None:
    out = format_metrics(
        {
            "sharpe": 1.84,
            "sortino": 2.312449,
            "calmar": 1.12005,
            "max_drawdown": -0.142,
            "win_rate": 0.6380000001,
            "profit_factor": None,
            "cagr": 0.18765,  # binary 0.187650000...05
            "expected_value": 12.4349,
            "total_trades": 247,
            "avg_trade_duration_seconds": 14820,
        }
    )
    assert out == {
        "sharpe": "1.84",
        "sortino": "2.3124",
        "calmar": "1.12",
        "max_drawdown": "-0.142",
        "win_rate": "0.638",
        "profit_factor": None,
        "cagr": "0.1877",
        "expected_value": "12.43",
        "total_trades": 247,
        "avg_trade_duration_seconds": 14820,
    }


def test_number_helpers() -> None:
    assert fixed(0.125, 2) == "0.12"  # exact binary tie -> half-even
    assert fixed(0.375, 2) == "0.38"
    assert fixed(-0.001, 2) == "0.00"  # no negative zero
    assert stripped(2.0, 4) == "2"
    assert stripped(-0.00001, 4) == "0"
    assert stripped(0.000123456789, 8) == "0.00012346"


def test_fixed_all_is_fixed_of_each() -> None:
    rng = np.random.default_rng(7)
    xs = [*(rng.normal(0, 1, 2000) * 10.0 ** rng.integers(-6, 9, 2000)).tolist(),
          0.125, 0.375, -0.001, -0.0, 0.0, -0.005, 1e300, -1e300, float("nan"),
          float("inf"), float("-inf"), 10000.0, 2.675]
    for dp in (0, 2, 8):
        assert fixed_all(xs, dp) == [fixed(x, dp) for x in xs]
        assert fixed_all([abs(x) for x in xs], dp) == [fixed(abs(x), dp) for x in xs]
    assert fixed_all([], 2) == []


def test_iso_times() -> None:
    assert iso_times(np.array([T0, T0 + MIN], dtype=np.int64)) == [
        "2025-01-01T00:00:00Z", "2025-01-01T00:01:00Z"]
    assert iso_times(np.array([], dtype=np.int64)) == []


def _result(n_points: int, n_trades: int) -> BacktestResult:
    t = T0 + MIN * np.arange(n_points, dtype=np.int64)
    trades = [
        Trade("BTCUSDT", "long", T0 + i * MIN, T0 + (i + 1) * MIN, 100.5, 101.25, 0.1, 0.0123, 0.06)
        for i in range(n_trades)
    ]
    return BacktestResult(
        metrics={"total_trades": n_trades},
        equity_time_ms=t,
        equity=np.linspace(10_000, 11_000, n_points),
        trades=trades,
    )


def test_document_shape() -> None:
    doc = result_document(_result(5, 2))
    assert doc["equity_curve"][0] == {"time": "2025-01-01T00:00:00Z", "equity": "10000.00"}
    assert doc["equity_curve"][-1] == {"time": "2025-01-01T00:04:00Z", "equity": "11000.00"}
    assert doc["trades"][0] == {
        "symbol": "BTCUSDT",
        "side": "long",
        "entry_time": "2025-01-01T00:00:00Z",
        "exit_time": "2025-01-01T00:01:00Z",
        "entry_price": "100.5",
        "exit_price": "101.25",
        "quantity": "0.1",
        "fees": "0.0123",
        "pnl": "0.06",
        "funding": "0",
    }
    assert doc["trades_total"] == 2
    assert doc["funding"] == {"total": "0.00", "source": "none"}
    json.dumps(doc)


def test_document_bounds() -> None:
    doc = result_document(_result(525_601, 25_000), max_equity_points=10_000)
    curve = doc["equity_curve"]
    assert len(curve) <= 10_000
    assert curve[0]["time"] == "2025-01-01T00:00:00Z"
    assert curve[-1]["equity"] == "11000.00"  # the last point is always kept
    assert len(doc["trades"]) == 10_000 and doc["trades_total"] == 25_000
    assert doc["trades"][-1]["exit_time"] == "2025-01-18T08:40:00Z"  # the most recent are kept
    assert len(json.dumps(doc)) < 4_000_000


def test_metric_names_are_the_domain_s() -> None:
    """engine keeps its own table (it does not import jobs): it must name the same
    metrics, in the same order, as jobs.metric_names."""
    assert tuple(METRIC_DECIMALS) == DECIMAL_METRICS
    assert tuple(format_metrics({})) == METRIC_NAMES


def test_result_pages_hold_every_row_once_and_reuse_a_complete_summary() -> None:
    from engine.results import POINTS_PER_PART, TRADES_PER_PART, result_parts

    big = _result(POINTS_PER_PART + 7, TRADES_PER_PART + 3)
    doc = result_document(big)  # keeps 10,000 of each: the pages format the rest
    pages = list(result_parts(big, doc))
    trades = [r for kind, _, _, rows in pages if kind == "trades" for r in json.loads(rows)]
    points = [r for kind, _, _, rows in pages if kind == "equity" for r in json.loads(rows)]
    assert len(trades) == TRADES_PER_PART + 3 and len(points) == POINTS_PER_PART + 7
    assert trades[-10_000:] == doc["trades"] and points[-1] == doc["equity_curve"][-1]
    assert [(k, i, n) for k, i, n, _ in pages] == [
        ("trades", 0, 2), ("trades", 1, 2), ("equity", 0, 2), ("equity", 1, 2)]
    small = _result(5, 2)
    small_doc = result_document(small)
    reused = list(result_parts(small, small_doc))
    assert json.loads(reused[0][3]) == small_doc["trades"]
    assert list(result_parts(small)) == reused  # the same bytes either way


def test_page_writers_match_the_row_formatters() -> None:
    """equity_json is the bytes orjson writes for equity_rows; stripped_all is stripped
    of each (negative zeros, ties and huge values included)."""
    from engine.results import equity_json, equity_rows, stripped_all

    rng = np.random.default_rng(11)
    equity = np.r_[rng.normal(10_000, 3_000, 500), -0.001, -0.0, 0.0, 2.675, -12.5, 1e12]
    times = T0 + np.arange(equity.shape[0], dtype=np.int64) * MIN
    assert equity_json(times, equity) == json.dumps(
        equity_rows(times, equity), separators=(",", ":"))
    assert equity_json(times[:0], equity[:0]) == "[]"
    xs = [*rng.normal(0, 1, 500).tolist(), 0.0, -0.0, -0.000000001, 1.5, 100.0, 0.000123456789]
    assert stripped_all(xs, 8) == [stripped(x, 8) for x in xs]
