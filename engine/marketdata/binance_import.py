"""Importer for Binance public kline files (data.binance.vision layout).

Accepted input: ``.csv`` or ``.zip`` (every ``.csv`` member is read), with or
without the header row, 12 columns ``open_time, open, high, low, close,
volume, close_time, quote_volume, count, taker_buy_base, taker_buy_quote,
ignore`` (only the first six are used). open_time in milliseconds or
microseconds (Binance spot files switched to µs in 2025): a value >= 1e14 is
read as µs. Only 1m klines are imported; higher timeframes are resampled.

Repairs, all reported in the ImportReport:
- rows out of order are sorted by open_time;
- exact duplicate rows (same open_time and identical OHLCV) are dropped;
- gaps (missing minutes) are kept as gaps and listed; bars are never invented.
Rejected with KlineImportError (nothing is written): conflicting duplicates
(same open_time, different values), open_time not on a minute boundary,
non-positive or non-finite prices, high/low not enclosing open/close, negative
volume, unreadable rows.

Importing into a symbol that already holds imported data merges the two
(same rules); imported data replaces synthetic data of the same symbol.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from engine.marketdata.bars import Bars
from engine.marketdata.store import MarketDataStore
from engine.timeframes import MINUTE_MS

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


class KlineImportError(ValueError):
    """The input cannot be imported as it is; the message says where and why."""


@dataclass
class ImportReport:
    symbol: str
    files: list[str]
    rows_read: int = 0
    rows_stored: int = 0
    duplicates_dropped: int = 0
    rows_out_of_order: int = 0
    gap_count: int = 0
    missing_bars: int = 0
    gaps: list[dict[str, int]] = field(default_factory=list)  # first MAX_LISTED_GAPS
    first_open_ms: int | None = None
    last_open_ms: int | None = None
    merged_with_existing: bool = False
    replaced_synthetic: bool = False

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


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

    t = frame["open_time"].to_numpy()
    o, h, lo, c, v = (frame[k].to_numpy() for k in ("open", "high", "low", "close", "volume"))
    fail(t % MINUTE_MS != 0, "open_time is not on a minute boundary (only 1m klines import)")
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


def import_klines(
    store: MarketDataStore, symbol: str, paths: list[Path], *, replace: bool = False
) -> ImportReport:
    """Import Binance 1m kline files into `store` as `symbol`'s 1m data."""
    report = ImportReport(symbol=symbol, files=[str(p) for p in paths])
    frames = [read_kline_file(Path(p)) for p in paths]
    if not frames or sum(len(f) for f in frames) == 0:
        raise KlineImportError("no rows to import")
    frame = pd.concat(frames, ignore_index=True)
    report.rows_read = len(frame)
    _validate(frame)
    existing = None if replace else store.read_1m_if_stored(symbol)
    if existing is not None:
        old, source = existing
        if source == IMPORT_SOURCE:
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
            frame = pd.concat([old_frame, frame], ignore_index=True)
        else:
            report.replaced_synthetic = True
    frame = _repair(frame, report)
    t = frame["open_time"].to_numpy(dtype=np.int64)
    step = np.diff(t)
    at = np.flatnonzero(step > MINUTE_MS)
    report.gap_count = int(at.shape[0])
    report.missing_bars = int(((step[at] // MINUTE_MS) - 1).sum())
    report.gaps = [
        {
            "after_open_ms": int(t[i]),
            "next_open_ms": int(t[i + 1]),
            "missing_bars": int(step[i] // MINUTE_MS - 1),
        }
        for i in at[:MAX_LISTED_GAPS]
    ]
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
    store.write_1m(symbol, bars, IMPORT_SOURCE)
    return report
