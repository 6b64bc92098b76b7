"""Funding rates of perpetual futures (docs/engine.md, "Funding"): one series per symbol.

A series is (funding_time_ms, rate): at each funding time a position of q units pays
q x price x rate (a long pays a positive rate to the shorts). Where it comes from:

- stored: `<root>/<SYMBOL>/funding.parquet` (columns funding_time int64 Unix ms, rate
  float64), written by `import_binance_funding` from Binance's public funding-rate CSV
  (`calc_time,funding_interval_hours,last_funding_rate`);
- synthetic symbols without a stored series: a seeded, plausible one (below), made in
  memory on each read (a few thousand points; the same every time);
- otherwise none: the run pays no funding and its result says so (`source: none`).

The synthetic series: every 8 h from the synthetic data's start, an AR(1) around the
0.01 % per 8 h base rate exchanges quote (rate_k = base + 0.7 (rate_{k-1} - base) +
N(0, 0.006 %)), clipped to +-0.3 %, seeded by the symbol.
"""

from __future__ import annotations

import functools
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engine.marketdata.synthetic import SPECS, SYNTHETIC_END_MS, SYNTHETIC_START_MS

INTERVAL_MS = 8 * 3_600_000
BASE_RATE = 0.0001
_PERSISTENCE, _NOISE, _CAP = 0.7, 0.00006, 0.003
FILE = "funding.parquet"


def funding_path(root: Path, symbol: str) -> Path:
    return root / symbol / FILE


def funding_series(root: Path, symbol: str, synthetic: bool,
                   start_ms: int, end_ms: int) -> tuple[np.ndarray, np.ndarray, str]:
    """(times, rates, source) with start_ms <= time < end_ms; source is "import",
    "synthetic" or "none"."""
    path = funding_path(root, symbol)
    if path.is_file():
        table = pq.read_table(path)
        times = table.column("funding_time").to_numpy().astype(np.int64)
        rates = table.column("rate").to_numpy().astype(np.float64)
        source = "import"
    elif synthetic and symbol in SPECS:
        times, rates = synthetic_funding(symbol)
        source = "synthetic"
    else:
        return np.empty(0, np.int64), np.empty(0), "none"
    keep = (times >= start_ms) & (times < end_ms)
    return times[keep], rates[keep], source


@functools.lru_cache(maxsize=16)
def synthetic_funding(symbol: str) -> tuple[np.ndarray, np.ndarray]:
    """The seeded series of a synthetic symbol (computed once per process; read-only)."""
    times = np.arange(SYNTHETIC_START_MS, SYNTHETIC_END_MS, INTERVAL_MS, dtype=np.int64)
    rng = np.random.default_rng(zlib.crc32(f"funding/{symbol}".encode()))
    shocks = rng.standard_normal(times.shape[0]) * _NOISE
    rates = np.empty(times.shape[0])
    level = BASE_RATE
    for k in range(times.shape[0]):
        level = BASE_RATE + _PERSISTENCE * (level - BASE_RATE) + shocks[k]
        rates[k] = level
    np.clip(rates, -_CAP, _CAP, out=rates)
    times.flags.writeable = rates.flags.writeable = False
    return times, rates


def read_binance_funding_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Binance's public funding-rate file (data.binance.vision, fundingRate): columns
    calc_time (Unix ms), funding_interval_hours, last_funding_rate."""
    frame = pd.read_csv(path)
    missing = {"calc_time", "last_funding_rate"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path.name}: not a Binance funding-rate file (no "
                         f"{', '.join(sorted(missing))} column)")
    frame = frame.sort_values("calc_time").drop_duplicates("calc_time")
    return (frame["calc_time"].to_numpy(np.int64),
            frame["last_funding_rate"].to_numpy(np.float64))


def is_binance_funding_csv(path: Path) -> bool:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.readline().strip().startswith("calc_time")


def import_binance_funding(root: Path, symbol: str, path: Path) -> int:
    """Merge a funding-rate file into the stored series of `symbol` (a later file wins
    on a repeated time); the number of points now stored."""
    times, rates = read_binance_funding_csv(path)
    target = funding_path(root, symbol)
    if target.is_file():
        old = pq.read_table(target).to_pandas()
        merged = pd.concat([old, pd.DataFrame({"funding_time": times, "rate": rates})])
        merged = merged.drop_duplicates("funding_time", keep="last").sort_values("funding_time")
        times, rates = merged["funding_time"].to_numpy(np.int64), merged["rate"].to_numpy()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    pq.write_table(pa.table({"funding_time": pa.array(times, pa.int64()),
                             "rate": pa.array(rates, pa.float64())}), tmp)
    tmp.replace(target)
    return int(times.shape[0])
