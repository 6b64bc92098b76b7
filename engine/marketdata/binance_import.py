"""Importer for Binance public kline files (data.binance.vision layout).

Accepted input: ``.csv`` or ``.zip`` (every ``.csv`` member is read), with or
without the header row, 12 columns ``open_time, open, high, low, close,
volume, close_time, quote_volume, count, taker_buy_base, taker_buy_quote,
ignore`` (only the first six are used). open_time in milliseconds or
microseconds (Binance spot files switched to µs in 2025): a value >= 1e14 is
read as µs.

The bar interval is the one the Binance file name gives (``BTCUSDT-1h-2024-01.csv``),
else the one passed in, else the greatest common divisor of the open times'
spacings; every spacing must be a whole number of intervals and every open time on
an interval boundary. Only the intervals the engine runs import (1m 5m 15m 1h 4h
1d); the bars are stored under their own timeframe (engine/marketdata/store.py),
coarser ones are resampled from them and finer ones refused.

Repairs, all reported in the ImportReport:
- rows out of order are sorted by open_time;
- exact duplicate rows (same open_time and identical OHLCV) are dropped;
- gaps (missing bars of the interval) are kept as gaps, counted and listed (the
  largest and the first MAX_LISTED_GAPS); bars are never invented.
Rejected with KlineImportError (nothing is written): conflicting duplicates
(same open_time, different values), an interval the engine does not run, files
of different intervals, spacing inconsistent with the interval, open_time off the
interval's boundaries, non-positive or non-finite prices, high/low not enclosing
open/close, negative volume, unreadable rows.

Importing into a symbol that already holds imported data of the same interval
merges the two (same rules); another interval is refused unless ``replace``.
Imported data replaces synthetic data of the same symbol.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from engine.marketdata.bars import Bars
from engine.marketdata.store import MarketDataStore
from engine.timeframes import TIMEFRAME_MS, TIMEFRAMES

KLINE_COLUMNS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_base",
    "taker_buy_quote",
    "ignore",
)
IMPORT_SOURCE = "import"
MAX_LISTED_GAPS = 100
_MICROS_FROM = 10**14  # ms timestamps stay below this until the year 5138
# data.binance.vision names: <SYMBOL>-<interval>-<YYYY>-<MM>[-<DD>].csv|zip
_BINANCE_NAME = re.compile(r"^[A-Z0-9]+-(\w+?)-\d{4}-\d{2}(?:-\d{2})?\.(?:csv|zip)$", re.I)


class KlineImportError(ValueError):
    """The input cannot be imported as it is; the message says where and why."""


@dataclass
class ImportReport:
    symbol: str
    files: list[str]
    interval: str = ""  # the bars' timeframe, as stored
    rows_read: int = 0
    rows_stored: int = 0
    duplicates_dropped: int = 0
    rows_out_of_order: int = 0
    gap_count: int = 0
    missing_bars: int = 0
    gaps: list[dict[str, int]] = field(default_factory=list)  # first MAX_LISTED_GAPS
    largest_gap: dict[str, int] | None = None
    first_open_ms: int | None = None
    last_open_ms: int | None = None
    merged_with_existing: bool = False
    replaced_synthetic: bool = False

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def interval_in_name(path: Path) -> str | None:
    """The interval a data.binance.vision file name gives (None: not such a name). An
    interval the engine does not run is refused here, with the ones it does."""
    match = _BINANCE_NAME.match(Path(path).name)
    if match is None:
        return None
    interval = match.group(1)
    if interval not in TIMEFRAME_MS:
        raise KlineImportError(f"{Path(path).name}: {interval} klines cannot be imported; "
                               f"the engine runs {' '.join(TIMEFRAMES)}")
    return interval


def read_kline_file(path: Path) -> pd.DataFrame:
    """Raw rows of one file (all its CSV members), open_time normalised to ms."""
    path = Path(path)
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.namelist() if m.lower().endswith(".csv")]
            if not members:
                raise KlineImportError(f"{path.name}: no .csv inside the zip")
            frames = [_read_csv(zf.read(m), f"{path.name}:{m}") for m in sorted(members)]
        return pd.concat(frames, ignore_index=True)
    return _read_csv(path.read_bytes(), path.name)


def _read_csv(raw: bytes, name: str) -> pd.DataFrame:
    first = raw.lstrip()[:64].split(b",", 1)[0].strip()
    has_header = not first.lstrip(b"-").isdigit()
    try:
        frame = pd.read_csv(
            io.BytesIO(raw),
            header=None,
            skiprows=1 if has_header else 0,
            usecols=range(6),
            names=KLINE_COLUMNS[:6],
            dtype={
                "open_time": "int64",
                "open": "float64",
                "high": "float64",
                "low": "float64",
                "close": "float64",
                "volume": "float64",
            },
        )
    except (ValueError, pd.errors.ParserError) as exc:
        raise KlineImportError(f"{name}: not a Binance kline CSV ({exc})") from None
    t = frame["open_time"].to_numpy()
    frame["open_time"] = np.where(t >= _MICROS_FROM, t // 1000, t)
    frame["source_row"] = np.arange(1 + has_header, len(frame) + 1 + has_header)
    frame["source_file"] = name
    return frame


def _validate(frame: pd.DataFrame) -> None:
    def fail(mask: np.ndarray, why: str) -> None:
        if mask.any():
            row = frame.iloc[int(np.flatnonzero(mask)[0])]
            raise KlineImportError(f"{row['source_file']} row {row['source_row']}: {why}")

    o, h, lo, c, v = (frame[k].to_numpy() for k in ("open", "high", "low", "close", "volume"))
    prices = np.stack([o, h, lo, c])
    fail(
        ~np.isfinite(prices).all(axis=0) | (prices <= 0).any(axis=0),
        "prices must be finite and > 0",
    )
    fail((h < np.maximum(o, c)) | (lo > np.minimum(o, c)), "high/low do not enclose open/close")
    fail(~np.isfinite(v) | (v < 0), "volume must be finite and >= 0")


def _repair(frame: pd.DataFrame, report: ImportReport) -> pd.DataFrame:
    t = frame["open_time"].to_numpy()
    report.rows_out_of_order += int(np.count_nonzero(t[1:] < t[:-1]))
    frame = frame.sort_values("open_time", kind="stable", ignore_index=True)
    values = ["open_time", "open", "high", "low", "close", "volume"]
    exact = frame.duplicated(subset=values, keep="first")
    report.duplicates_dropped += int(exact.sum())
    frame = frame[~exact.to_numpy()].reset_index(drop=True)
    clash = frame["open_time"].duplicated(keep=False).to_numpy()
    if clash.any():
        when = pd.Timestamp(int(frame["open_time"][clash].iloc[0]), unit="ms", tz="UTC")
        files = sorted(set(frame["source_file"][clash]))
        raise KlineImportError(
            f"conflicting rows for open_time {when.isoformat()} (in {', '.join(files)}): "
            "same minute with different values"
        )
    return frame


def _interval(frame: pd.DataFrame, named: set[str], given: str | None) -> str:
    """The bars' interval (see the module docstring); `frame` is sorted, deduplicated."""
    if len(named) > 1:
        raise KlineImportError(f"the files hold different intervals ({', '.join(sorted(named))}): "
                               "import each interval on its own")
    if named and given and named != {given}:
        raise KlineImportError(f"the file names say {named.pop()} bars, not {given}")
    t = frame["open_time"].to_numpy(dtype=np.int64)
    step = np.diff(t)
    interval = next(iter(named), given)
    if interval is None:
        if len(t) < 2:
            raise KlineImportError("one bar gives no interval: name the file as Binance does "
                                   "(SYMBOL-1h-2024-01.csv) or pass the interval")
        interval = _inferred(frame, step)
    ms = TIMEFRAME_MS[interval]
    off = np.flatnonzero(t % ms != 0)
    if off.shape[0]:
        raise KlineImportError(f"{_row(frame, int(off[0]))}: open_time is not on a {interval} "
                               f"boundary (the bars are {interval} bars)")
    uneven = np.flatnonzero(step % ms != 0)
    if uneven.shape[0]:
        i = int(uneven[0])
        raise KlineImportError(
            f"inconsistent spacing: rows {_where(frame, i)} are {_span(int(step[i]))} apart, "
            f"not a whole number of {interval} bars")
    return interval


def _inferred(frame: pd.DataFrame, step: np.ndarray) -> str:
    """The interval of the spacings: their greatest common divisor (hourly bars with
    gaps are 1h, 2h, 3h... apart), which must be an interval the engine runs."""
    common = int(np.gcd.reduce(step))
    interval = next((tf for tf, ms in TIMEFRAME_MS.items() if ms == common), None)
    if interval is not None:
        return interval
    smallest = int(step.min())
    if smallest in TIMEFRAME_MS.values():  # e.g. 4h bars with a 6h spacing among them
        i = int(np.flatnonzero(step % smallest != 0)[0])
        raise KlineImportError(
            f"inconsistent spacing: rows {_where(frame, i)} are {_span(int(step[i]))} apart, "
            f"not a whole number of {_span(smallest)} bars")
    raise KlineImportError(
        f"bars {_span(smallest)} apart (rows {_where(frame, int(step.argmin()))}): "
        f"not an interval the engine runs ({' '.join(TIMEFRAMES)})")


def _row(frame: pd.DataFrame, i: int) -> str:
    return f"{frame['source_file'].iloc[i]} row {frame['source_row'].iloc[i]}"


def _where(frame: pd.DataFrame, i: int) -> str:
    """Rows i and i+1 of the sorted frame, by file and row."""
    return f"{_row(frame, i)} and {_row(frame, i + 1)}"


def _span(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0 and ms >= size:
            return f"{ms // size}{unit}"
    return f"{ms} ms"


def _gaps(t: np.ndarray, interval_ms: int, report: ImportReport) -> None:
    step = np.diff(t)
    at = np.flatnonzero(step > interval_ms)
    missing = step[at] // interval_ms - 1
    report.gap_count = int(at.shape[0])
    report.missing_bars = int(missing.sum())

    def gap(k: int) -> dict[str, int]:
        i = int(at[k])
        return {"after_open_ms": int(t[i]), "next_open_ms": int(t[i + 1]),
                "missing_bars": int(missing[k])}

    report.gaps = [gap(k) for k in range(min(MAX_LISTED_GAPS, at.shape[0]))]
    report.largest_gap = gap(int(missing.argmax())) if at.shape[0] else None


def import_klines(
    store: MarketDataStore, symbol: str, paths: list[Path], *, replace: bool = False,
    interval: str | None = None,
) -> ImportReport:
    """Import Binance kline files into `store` as `symbol`'s bars of their interval
    (`interval` when the file names do not say it and the spacing should not)."""
    if interval is not None and interval not in TIMEFRAME_MS:
        raise KlineImportError(f"unknown interval {interval!r}; one of {' '.join(TIMEFRAMES)}")
    report = ImportReport(symbol=symbol, files=[str(p) for p in paths])
    named = {i for i in (interval_in_name(Path(p)) for p in paths) if i is not None}
    frames = [read_kline_file(Path(p)) for p in paths]
    if not frames or sum(len(f) for f in frames) == 0:
        raise KlineImportError("no rows to import")
    frame = pd.concat(frames, ignore_index=True)
    report.rows_read = len(frame)
    _validate(frame)
    frame = _repair(frame, report)
    report.interval = _interval(frame, named, interval)
    existing = None if replace else store.read_base_if_stored(symbol)
    if existing is not None:
        old, source, stored_interval = existing
        if source != IMPORT_SOURCE:
            report.replaced_synthetic = True
        elif stored_interval != report.interval:
            raise KlineImportError(
                f"{symbol} holds imported {stored_interval} bars; these are {report.interval} "
                f"bars: import {stored_interval} files to add to them, or pass --replace")
        else:
            report.merged_with_existing = True
            old_frame = pd.DataFrame(
                {
                    "open_time": old.open_time_ms,
                    "open": old.open,
                    "high": old.high,
                    "low": old.low,
                    "close": old.close,
                    "volume": old.volume,
                    "source_row": np.arange(1, len(old) + 1),
                    "source_file": "<stored>",
                }
            )
            frame = _repair(pd.concat([old_frame, frame], ignore_index=True), report)
    t = frame["open_time"].to_numpy(dtype=np.int64)
    _gaps(t, TIMEFRAME_MS[report.interval], report)
    report.rows_stored = len(frame)
    report.first_open_ms, report.last_open_ms = int(t[0]), int(t[-1])
    bars = Bars.from_arrays(
        t,
        frame["open"].to_numpy(),
        frame["high"].to_numpy(),
        frame["low"].to_numpy(),
        frame["close"].to_numpy(),
        frame["volume"].to_numpy(),
    )
    store.write_base(symbol, report.interval, bars, IMPORT_SOURCE)
    return report
