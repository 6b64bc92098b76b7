"""Synthetic generator, Parquet store and resampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.contract import BacktestError
from engine.marketdata import cli_ops
from engine.marketdata.resample import resample
from engine.marketdata.store import MarketDataStore
from engine.marketdata.synthetic import SPECS, SYNTHETIC_END_MS, SYNTHETIC_START_MS, generate_1m
from tests.engine.helpers import MIN, T0, make_bars


def test_generator_is_deterministic_and_matches_the_store(store: MarketDataStore) -> None:
    a = generate_1m("SOLUSDT")
    b = generate_1m("SOLUSDT")
    stored = store.bars("SOLUSDT", "1m")
    for col in ("open_time_ms", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(a, col), getattr(b, col))
        assert np.array_equal(getattr(a, col), getattr(stored, col))
    assert len(a) == (SYNTHETIC_END_MS - SYNTHETIC_START_MS) // MIN == 1_052_640


def test_generator_texture(store: MarketDataStore) -> None:
    b = store.bars("BTCUSDT", "1m")
    assert np.all(np.diff(b.open_time_ms) == MIN)
    assert np.all(b.high >= np.maximum(b.open, b.close))
    assert np.all(b.low <= np.minimum(b.open, b.close))
    assert np.array_equal(b.open[1:], b.close[:-1])
    assert b.close.min() > 30_000 and b.close.max() < 160_000
    assert 38_000 < b.close[0] < 46_000  # starts near the real 2024-01-01 level
    r = np.diff(np.log(b.close))
    z = (r - r.mean()) / r.std()
    assert np.mean(z**4) > 6  # fat tails (normal: 3)
    a = np.abs(r)
    assert np.corrcoef(a[1:], a[:-1])[0, 1] > 0.1  # volatility clustering
    assert abs(np.corrcoef(r[1:], r[:-1])[0, 1]) < 0.05  # but returns are not predictable
    hour = (b.open_time_ms // 3_600_000) % 24
    by_hour = np.array([b.volume[hour == h].mean() for h in range(24)])
    assert by_hour.max() / by_hour.min() > 1.8  # intraday volume cycle
    ann = r.std() * np.sqrt(525_600)
    assert 0.3 < ann < 1.0


def test_symbols_and_unknown(store: MarketDataStore) -> None:
    assert set(SPECS) <= set(store.symbols())
    with pytest.raises(BacktestError) as err:
        store.bars("NOPEUSDT", "1h")
    assert err.value.code == "UNKNOWN_SYMBOL"


def test_resample_by_hand() -> None:
    rows = [
        (10, 11, 9, 10.5),
        (10.5, 12, 10, 11),
        (11, 11.5, 8, 9),  # 00:00-00:02
        (9, 9.5, 8.5, 9.2),
        (9.2, 9.9, 9.1, 9.8),
        (9.8, 10, 9.7, 9.9),
    ]  # 00:03-00:05
    b = make_bars(rows)
    five = resample(b, "5m")
    assert five.open_time_ms.tolist() == [T0, T0 + 5 * MIN]
    assert five.open.tolist() == [10, 9.8]
    assert five.high.tolist() == [12, 10]
    assert five.low.tolist() == [8, 9.7]
    assert five.close.tolist() == [9.8, 9.9]
    assert five.volume.tolist() == [5, 1]


def test_resample_alignment_and_gaps() -> None:
    # 1m bars at 03:58..04:01 UTC, minus 03:59: 4h buckets start at 00:00 and 04:00.
    t0 = T0 + 238 * MIN
    b = make_bars([(1, 2, 0.5, 1.5), (1.5, 3, 1, 2), (2, 2.5, 1.5, 2.2)], t0=t0)
    gapped = type(b)(
        b.open_time_ms + np.array([0, MIN, MIN]), b.open, b.high, b.low, b.close, b.volume
    )
    four = resample(gapped, "4h")
    assert four.open_time_ms.tolist() == [T0, T0 + 240 * MIN]
    assert four.close.tolist() == [1.5, 2.2] and four.open.tolist() == [1, 1.5]


def test_store_resampled_files_match_and_cache(store: MarketDataStore) -> None:
    one = store.bars("BTCUSDT", "1m", T0, T0 + 3 * 86_400_000)
    for tf in ("5m", "15m", "1h", "4h", "1d"):
        got = store.bars("BTCUSDT", tf, T0, T0 + 3 * 86_400_000)
        want = resample(one, tf)
        assert np.array_equal(got.close, want.close) and np.array_equal(got.volume, want.volume)
        assert store.path("BTCUSDT", tf).is_file()
    day = store.bars("BTCUSDT", "1d", T0, T0 + 86_400_000)
    assert len(day) == 1 and day.open_time_ms[0] == T0


def test_atomic_writes_leave_no_temp_files(store: MarketDataStore, market_dir: Path) -> None:
    store.bars("BTCUSDT", "1h")
    assert not list(market_dir.rglob("*.tmp"))


def test_cli_ops_list_and_generate(tmp_path: Path) -> None:
    listed = {d["symbol"]: d for d in cli_ops.list_data(tmp_path)}
    assert set(listed) == set(SPECS) and not listed["BTCUSDT"]["stored"]
    out = cli_ops.generate(tmp_path, ["XRPUSDT"], timeframes=("1m", "1d"))
    assert out[0]["bars"] == 1_052_640 and out[0]["timeframes"] == ["1m", "1d"]
    assert out[0]["source"] == "synthetic:v1"
    with pytest.raises(KeyError):
        cli_ops.generate(tmp_path, ["DOGEUSDT"])
