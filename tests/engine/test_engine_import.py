"""Binance kline importer: layouts, timestamps and repairs."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from engine.contract import INVALID_CONFIG, BacktestError
from engine.marketdata import cli_ops
from engine.marketdata.binance_import import KlineImportError, import_klines
from engine.marketdata.store import MarketDataStore
from tests.engine.helpers import MIN, T0

HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
    "taker_buy_base,taker_buy_quote,ignore\n"
)


def kline(
    t: int, o: float, h: float, lo: float, c: float, v: float = 1.5, micros: bool = False
) -> str:
    scale = 1000 if micros else 1
    return (
        f"{t * scale},{o},{h},{lo},{c},{v},{(t + MIN - 1) * scale},{v * c},10,"
        f"{v / 2},{v * c / 2},0\n"
    )


def rows(n: int, start: int = T0, micros: bool = False) -> list[str]:
    return [
        kline(start + i * MIN, 100 + i, 101 + i, 99 + i, 100.5 + i, micros=micros) for i in range(n)
    ]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_csv_with_and_without_header(tmp_path: Path) -> None:
    store = MarketDataStore(tmp_path / "m", synthetic=False)
    a = write(tmp_path / "a.csv", HEADER + "".join(rows(3)))
    b = write(tmp_path / "b.csv", "".join(rows(3, start=T0 + 3 * MIN)))
    rep = import_klines(store, "TESTUSDT", [a, b])
    assert rep.rows_read == 6 and rep.rows_stored == 6 and rep.gap_count == 0
    bars = store.bars("TESTUSDT", "1m")
    assert bars.open_time_ms.tolist() == [T0 + i * MIN for i in range(6)]
    assert bars.close.tolist() == [100.5, 101.5, 102.5] * 2
    assert store.symbols() == ["TESTUSDT"]
    assert len(store.bars("TESTUSDT", "5m")) == 2


def test_zip_and_microseconds(tmp_path: Path) -> None:
    store = MarketDataStore(tmp_path / "m", synthetic=False)
    z = tmp_path / "TESTUSDT-1m-2025-01.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("TESTUSDT-1m-2025-01.csv", "".join(rows(4, micros=True)))
    rep = import_klines(store, "TESTUSDT", [z])
    assert rep.rows_stored == 4 and rep.first_open_ms == T0


def test_out_of_order_duplicates_and_gaps_are_repaired_and_reported(tmp_path: Path) -> None:
    store = MarketDataStore(tmp_path / "m", synthetic=False)
    r = rows(6)
    shuffled = [r[1], r[0], r[2], r[2], r[5]]  # swap, exact duplicate, minutes 3-4 missing
    rep = import_klines(store, "TESTUSDT", [write(tmp_path / "x.csv", "".join(shuffled))])
    assert rep.rows_out_of_order == 1 and rep.duplicates_dropped == 1
    assert rep.gap_count == 1 and rep.missing_bars == 2
    assert rep.gaps == [
        {"after_open_ms": T0 + 2 * MIN, "next_open_ms": T0 + 5 * MIN, "missing_bars": 2}
    ]
    assert store.bars("TESTUSDT", "1m").open_time_ms.tolist() == [
        T0,
        T0 + MIN,
        T0 + 2 * MIN,
        T0 + 5 * MIN,
    ]


def test_conflicting_duplicate_is_rejected(tmp_path: Path) -> None:
    store = MarketDataStore(tmp_path / "m", synthetic=False)
    text = kline(T0, 100, 101, 99, 100.5) + kline(T0, 100, 101, 99, 100.7)
    with pytest.raises(
        KlineImportError, match="conflicting rows for open_time 2025-01-01T00:00:00"
    ):
        import_klines(store, "TESTUSDT", [write(tmp_path / "c.csv", text)])
    assert not store.path("TESTUSDT", "1m").exists()


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (kline(T0 + 30_000, 100, 101, 99, 100) + kline(T0 + 90_000, 100, 101, 99, 100),
         "row 1: open_time is not on a 1m boundary"),
        (kline(T0, 100, 99, 98, 100), "high/low"),
        (kline(T0, -1, 101, 99, 100), "prices"),
        (kline(T0, 100, 101, 99, 100, v=-2), "volume"),
        ("a,b,c\n1,2\n", "not a Binance kline CSV"),
    ],
)
def test_invalid_rows_are_rejected(tmp_path: Path, text: str, why: str) -> None:
    store = MarketDataStore(tmp_path / "m", synthetic=False)
    with pytest.raises(KlineImportError, match=why):
        import_klines(store, "TESTUSDT", [write(tmp_path / "bad.csv", text)])


def test_merge_with_previous_import_and_replace_synthetic(tmp_path: Path) -> None:
    d = tmp_path / "m"
    first = cli_ops.import_files(d, "BTCUSDT", [write(tmp_path / "1.csv", "".join(rows(3)))])
    assert first["replaced_synthetic"] is False  # nothing was stored yet
    hourly_before = MarketDataStore(d).bars("BTCUSDT", "1h").close.tolist()
    second = cli_ops.import_files(d, "BTCUSDT", [write(tmp_path / "2.csv", "".join(rows(5)[2:]))])
    assert second["merged_with_existing"] is True and second["duplicates_dropped"] == 1
    assert second["rows_stored"] == 5
    store = MarketDataStore(d)
    assert store.info("BTCUSDT")["source"] == "import"
    hourly = store.bars("BTCUSDT", "1h")  # stale resample is rebuilt from the new 1m data
    assert hourly_before == [102.5] and hourly.close.tolist() == [104.5]
    assert np.isclose(hourly.volume[0], 7.5)


HOUR = 60 * MIN
DAY = 24 * HOUR


def bars_at(times: list[int]) -> str:
    return "".join(kline(t, 100 + i, 101 + i, 99 + i, 100.5 + i) for i, t in enumerate(times))


def test_hourly_file_is_stored_as_hourly_bars_with_gaps_in_hours(tmp_path: Path) -> None:
    store = MarketDataStore(tmp_path / "m", synthetic=False)
    times = [T0 + k * HOUR for k in (0, 1, 2, 5, 6, 7, 8, 20, 21, 22, 23)]
    path = write(tmp_path / "TESTUSDT-1h-2025-01.csv", HEADER + bars_at(times))
    rep = import_klines(store, "TESTUSDT", [path])
    assert rep.interval == "1h" and rep.rows_stored == 11
    assert rep.gap_count == 2 and rep.missing_bars == 2 + 11  # not thousands of "minutes"
    assert rep.largest_gap == {"after_open_ms": T0 + 8 * HOUR, "next_open_ms": T0 + 20 * HOUR,
                               "missing_bars": 11}
    assert rep.gaps[0] == {"after_open_ms": T0 + 2 * HOUR, "next_open_ms": T0 + 5 * HOUR,
                           "missing_bars": 2}
    assert store.base_timeframe("TESTUSDT") == store.finest_timeframe("TESTUSDT") == "1h"
    assert store.bars("TESTUSDT", "1h").open_time_ms.tolist() == times
    assert store.bars("TESTUSDT", "4h").open_time_ms.tolist() == [
        T0 + k * 4 * HOUR for k in (0, 1, 2, 5)]
    with pytest.raises(BacktestError) as refused:
        store.bars("TESTUSDT", "15m")
    assert refused.value.code == INVALID_CONFIG and "1h bars at the finest" in refused.value.message
    assert store.info("TESTUSDT")["base_timeframe"] == "1h"


def test_daily_bars_with_weekend_gaps_infer_their_interval(tmp_path: Path) -> None:
    store = MarketDataStore(tmp_path / "m", synthetic=False)
    days = [k for k in range(30) if k % 7 not in (5, 6)]  # weekdays only
    rep = import_klines(store, "STOCK", [write(tmp_path / "stock.csv", bars_at(
        [T0 + k * DAY for k in days]))])
    assert rep.interval == "1d" and rep.gap_count == 4 and rep.missing_bars == 8
    assert store.finest_timeframe("STOCK") == "1d"


@pytest.mark.parametrize(
    ("name", "times", "why"),
    [
        ("h.csv", [T0, T0 + HOUR, T0 + 2 * HOUR + 30 * MIN], "90m apart, not a whole number of 1h"),
        ("h.csv", [T0, T0 + 2 * HOUR, T0 + 5 * HOUR, T0 + 7 * HOUR + 0], None),
        ("h.csv", [T0, T0 + 4 * HOUR, T0 + 10 * HOUR], "inconsistent spacing: rows h.csv row 2 "
         "and h.csv row 3 are 6h apart, not a whole number of 4h bars"),
        ("half.csv", [T0, T0 + 30 * MIN, T0 + 60 * MIN], "30m apart.*1m 5m 15m 1h 4h 1d"),
        ("X-3m-2025-01.csv", [T0, T0 + 3 * MIN], "3m klines cannot be imported"),
        ("X-1h-2025-01.csv", [T0, T0 + MIN], "not on a 1h boundary"),
        ("one.csv", [T0], "one bar gives no interval"),
    ],
)
def test_spacing_must_fit_an_interval_the_engine_runs(
    tmp_path: Path, name: str, times: list[int], why: str | None
) -> None:
    store = MarketDataStore(tmp_path / "m", synthetic=False)
    path = write(tmp_path / name, bars_at(times))
    if why is None:  # 2h, 3h and 2h apart: hourly bars with gaps
        assert import_klines(store, "TESTUSDT", [path]).interval == "1h"
        return
    with pytest.raises(KlineImportError, match=why):
        import_klines(store, "TESTUSDT", [path])
    assert store.base_timeframe("TESTUSDT") is None  # nothing written


def test_one_bar_imports_with_its_interval_given(tmp_path: Path) -> None:
    store = MarketDataStore(tmp_path / "m", synthetic=False)
    rep = import_klines(store, "TESTUSDT", [write(tmp_path / "one.csv", bars_at([T0]))],
                        interval="1d")
    assert rep.interval == "1d" and store.finest_timeframe("TESTUSDT") == "1d"
    with pytest.raises(KlineImportError, match="different intervals"):
        import_klines(store, "TESTUSDT", [write(tmp_path / "X-1h-2025-01.csv", bars_at([T0])),
                                          write(tmp_path / "X-1d-2025-01.csv", bars_at([T0]))])


def test_another_interval_replaces_only_when_asked(tmp_path: Path) -> None:
    d = tmp_path / "m"
    cli_ops.import_files(d, "TESTUSDT", [write(tmp_path / "m.csv", "".join(rows(120)))])
    hourly = write(tmp_path / "TESTUSDT-1h-2025-01.csv", bars_at([T0, T0 + HOUR]))
    with pytest.raises(KlineImportError, match="holds imported 1m bars; these are 1h"):
        cli_ops.import_files(d, "TESTUSDT", [hourly])
    assert MarketDataStore(d).base_timeframe("TESTUSDT") == "1m"
    report = cli_ops.import_files(d, "TESTUSDT", [hourly], replace=True)
    assert report["interval"] == "1h" and report["kind"] == "klines"
    store = MarketDataStore(d, synthetic=False)
    assert store.base_timeframe("TESTUSDT") == "1h" and not store.path("TESTUSDT", "1m").exists()
    assert store.symbols() == ["TESTUSDT"]


def test_funding_files_import_as_the_funding_series(tmp_path: Path) -> None:
    from engine.marketdata.funding import funding_series

    d = tmp_path / "m"
    csv = write(tmp_path / "TESTUSDT-fundingRate-2025-01.csv",
                "calc_time,funding_interval_hours,last_funding_rate\n"
                f"{T0},8,0.0001\n{T0 + 8 * HOUR},8,-0.0002\n")
    report = cli_ops.import_files(d, "TESTUSDT", [csv])
    assert report["kind"] == "funding" and report["funding_points"] == 2
    times, rates, source = funding_series(d, "TESTUSDT", False, T0, T0 + DAY)
    assert times.tolist() == [T0, T0 + 8 * HOUR] and rates.tolist() == [0.0001, -0.0002]
    with pytest.raises(KlineImportError, match="import them apart"):
        cli_ops.import_files(d, "TESTUSDT", [csv, write(tmp_path / "k.csv", "".join(rows(2)))])
