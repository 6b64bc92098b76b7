"""The full trade list and curve of a done job (api/routers/result_pages.py): paged, as
CSV, downsampled; from the result's pages, or from the summary of a result without any."""

from __future__ import annotations

import io
import time

import numpy as np
import pandas as pd
import pytest

from api.examples import GRID_CONFIG
from engine.contract import BacktestResult, Trade
from engine.results import result_document, result_parts
from jobs.messages import EquityPage, ResultPart
from tests.api.conftest import ApiHarness

JOB = "/v1/backtest/jobs"
METRICS = {"sharpe": None, "sortino": None, "calmar": None, "max_drawdown": "0",
           "win_rate": None, "profit_factor": None, "cagr": None, "expected_value": None,
           "total_trades": 0, "avg_trade_duration_seconds": 0}
T0 = 1_735_689_600_000


def _result(trades: int, points: int) -> BacktestResult:
    times = T0 + 60_000 * np.arange(points, dtype=np.int64)
    equity = 10_000.0 + np.sin(np.arange(points) / 50.0) * 100
    return BacktestResult(metrics={}, equity_time_ms=times, equity=equity, trades=[
        Trade("BTCUSDT", "long" if i % 2 else "short", T0 + i * 60_000, T0 + i * 60_000 + 30_000,
              100.0 + i * 0.25, 101.0 + i * 0.25, 0.5, 0.01, float(i) - 0.5)
        for i in range(trades)])


def _done_job(h: ApiHarness, job_id: str, result: BacktestResult, pages: bool = True,
              ago_ms: int = 1000) -> None:
    now = int(time.time() * 1000)
    h.jobs.accept(job_id, "alice", GRID_CONFIG, now - ago_ms - 2000)
    h.jobs.start(job_id, now - ago_ms - 1000)
    h.jobs.succeed(job_id, now - ago_ms, METRICS, result=result_document(result))
    if pages:
        h.view.apply([], [], {}, [
            ResultPart(job_id=job_id, attempt=1, kind=kind, index=index, parts=parts,
                       rows_json=rows)
            for kind, index, parts, rows in result_parts(result)])


def test_walking_the_pages_of_100000_trades_returns_each_once(harness: ApiHarness) -> None:
    _done_job(harness, "bt_many", _result(100_000, 10))
    seen: list[str] = []
    cursor = None
    while True:
        page = harness.client.get(f"{JOB}/bt_many/trades", params={
            "limit": 1000, **({"cursor": cursor} if cursor else {})}).json()
        assert page["total"] == 100_000
        seen += [t["entry_time"] + t["side"] for t in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 100_000 and len(set(seen)) == 100_000
    first = harness.client.get(f"{JOB}/bt_many/trades?limit=2").json()["data"]
    assert [t["pnl"] for t in first] == ["-0.50", "0.50"]  # oldest first, as formatted


def test_the_csv_opens_in_pandas_with_its_types(harness: ApiHarness) -> None:
    _done_job(harness, "bt_csv", _result(25_000, 10))
    response = harness.client.get(f"{JOB}/bt_csv/trades", headers={"Accept": "text/csv"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    frame = pd.read_csv(io.StringIO(response.text), parse_dates=["entry_time", "exit_time"])
    assert len(frame) == 25_000
    assert list(frame.columns) == ["symbol", "side", "entry_time", "exit_time", "entry_price",
                                   "exit_price", "quantity", "fees", "pnl", "funding"]
    for column in ("entry_price", "exit_price", "quantity", "fees", "pnl", "funding"):
        assert frame[column].dtype == np.float64, column
    assert str(frame["entry_time"].dtype).startswith("datetime64")
    assert frame["pnl"].sum() == pytest.approx(sum(i - 0.5 for i in range(25_000)))


def test_the_equity_curve_full_and_downsampled(harness: ApiHarness) -> None:
    _done_job(harness, "bt_eq", _result(0, 120_000))  # three pages of 50,000 points
    full = harness.client.get(f"{JOB}/bt_eq/equity").json()
    assert full["total"] == 120_000 and len(full["data"]) == 120_000
    small = harness.client.get(f"{JOB}/bt_eq/equity?points=500").json()
    assert small["total"] == 120_000 and len(small["data"]) == 500
    assert small["data"][0] == full["data"][0] and small["data"][-1] == full["data"][-1]
    top = max(full["data"], key=lambda p: float(p["equity"]))
    assert max(float(p["equity"]) for p in small["data"]) == pytest.approx(
        float(top["equity"]), abs=0.05)  # the peaks survive


def test_a_result_without_pages_is_served_from_its_summary(harness: ApiHarness) -> None:
    # Finished two minutes ago without pages: a result from before pages, served at once.
    _done_job(harness, "bt_old", _result(30, 40), pages=False, ago_ms=120_000)
    started = time.monotonic()
    body = harness.client.get(f"{JOB}/bt_old/trades?limit=7&cursor=28").json()
    assert body["total"] == 30 and len(body["data"]) == 2 and body["next_cursor"] is None
    assert harness.client.get(f"{JOB}/bt_old/equity").json()["total"] == 40
    assert time.monotonic() - started < 2.0  # no wait for pages that will never come


@pytest.mark.parametrize("cursor", ["x", "-1", "101", "1e3"])
def test_a_bad_cursor_is_refused(harness: ApiHarness, cursor: str) -> None:
    _done_job(harness, "bt_c", _result(100, 10))
    response = harness.client.get(f"{JOB}/bt_c/trades", params={"cursor": cursor})
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("cursor:")


def test_not_done_and_not_yours(harness: ApiHarness) -> None:
    harness.jobs.accept("bt_q", "alice", GRID_CONFIG, T0)
    for path in ("trades", "equity"):
        assert harness.client.get(f"{JOB}/bt_q/{path}").status_code == 409
    _done_job(harness, "bt_mine", _result(3, 10))
    mallory = harness.signed_client(harness.other)
    for path in ("trades", "equity"):
        assert mallory.get(f"{JOB}/bt_mine/{path}").status_code == 404


def _done_job_binary(h: ApiHarness, job_id: str, result: BacktestResult) -> None:
    """As the engine worker writes a result: the curve as binary pages only."""
    now = int(time.time() * 1000)
    h.jobs.accept(job_id, "alice", GRID_CONFIG, now - 3000)
    h.jobs.start(job_id, now - 2000)
    document = result_document(result, curve_in_pages=True)
    h.jobs.succeed(job_id, now - 1000, METRICS, result=document)
    h.view.apply([], [], {}, [
        EquityPage(job_id=job_id, attempt=1, index=index, parts=parts, data=rows)
        if isinstance(rows, bytes) else
        ResultPart(job_id=job_id, attempt=1, kind=kind, index=index, parts=parts,
                   rows_json=rows)
        for kind, index, parts, rows in result_parts(result, document, binary_equity=True)])


@pytest.mark.parametrize("points", [1, 8_761, 120_000])
def test_a_curve_sent_in_binary_reads_exactly_as_one_sent_as_json(
        harness: ApiHarness, points: int) -> None:
    result = _result(30, points)
    _done_job(harness, "bt_json", result)
    _done_job_binary(harness, "bt_bin", result)
    for path in ("result", "equity", "equity?points=500", "trades?limit=7"):
        json_way = harness.client.get(f"{JOB}/bt_json/{path}")
        binary_way = harness.client.get(f"{JOB}/bt_bin/{path}")
        assert json_way.status_code == binary_way.status_code == 200, path
        assert binary_way.content == json_way.content, path
    stored = harness.view.result("bt_bin", 1)
    assert stored is not None and b'"equity_curve":"pages"' in stored
    kept = harness.app.state.documents.result("bt_bin", 1)  # formatted once, then kept
    assert kept == harness.client.get(f"{JOB}/bt_json/result").content


def test_a_missing_binary_page_means_no_curve_yet_not_a_partial_one(harness: ApiHarness) -> None:
    result = _result(0, 120_000)
    _done_job_binary(harness, "bt_gap", result)
    harness.view.db.delete(b"p\x00bt_gap\x00000001\x00equity\x00000001")
    assert harness.view.equity_arrays("bt_gap", 1) is None
