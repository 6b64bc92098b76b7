"""Binance kline importer: layouts, timestamps and repairs."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

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
        (kline(T0 + 30_000, 100, 101, 99, 100), "minute boundary"),
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
