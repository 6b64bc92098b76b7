"""The local columnar market-data store: one Parquet file per symbol and timeframe.

Layout under the root directory (the app passes ``<PIPAI_DATA_DIR>/market``)::

    <root>/<SYMBOL>/<base>.parquet  the source of truth (synthetic 1m, or imported
                                    bars of their own interval: 1m 5m 15m 1h 4h 1d)
    <root>/<SYMBOL>/<tf>.parquet    each coarser timeframe, resampled from the base
                                    on first use

A symbol's base timeframe is the finest one stored with a source; a timeframe
finer than it cannot be served (BacktestError INVALID_CONFIG names the base: bars
are never invented). Columns: open_time (int64 Unix ms UTC, strictly increasing),
open, high, low, close, volume (float64). Parquet key-value metadata of a base
file: ``pipai.source`` (``synthetic:v<N>`` or ``import``) and ``pipai.generation``
(a random id written with each base file); a resampled file records the generation
of the base it came from and is rebuilt when that no longer matches (e.g. after an
import).

Every write goes to a temp file in the same directory and is renamed into
place, so concurrent processes (several engine workers, the CLI) never see a
half-written file. Generating a synthetic symbol takes an exclusive lock on
``<root>/<SYMBOL>/.generate.lock`` (flock) and re-checks the file under it, so
several workers (or threads) starting at once generate each symbol once.
"""

from __future__ import annotations

import fcntl
import os
import threading
import uuid
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from engine.contract import INVALID_CONFIG, UNKNOWN_SYMBOL, BacktestError
from engine.marketdata.bars import Bars
from engine.marketdata.resample import resample
from engine.marketdata.synthetic import GENERATOR_VERSION, SPECS, generate_1m
from engine.timeframes import TIMEFRAME_MS, TIMEFRAMES

DEFAULT_ROOT = Path(".pipai/market")
_SOURCE = b"pipai.source"
_GENERATION = b"pipai.generation"
_FROM_GENERATION = b"pipai.from_generation"
_CACHE_ENTRIES = 8  # whole-file arrays kept in memory (a 1m file is ~50 MB)
_META_ENTRIES = 512  # files whose metadata is kept (the base is looked up on each query)


class MarketDataStore:
    def __init__(self, root: Path | str = DEFAULT_ROOT, *, synthetic: bool = True) -> None:
        self.root = Path(root)
        self.synthetic = synthetic  # False: only data present on disk exists
        self._cache: OrderedDict[tuple[str, int, int], Bars] = OrderedDict()
        self._meta_cache: OrderedDict[tuple[str, int, int], dict[bytes, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    # -- queries -----------------------------------------------------------
    def symbols(self) -> list[str]:
        """Symbols that can be served: on disk with a base file, plus the synthetic
        ones (generated on first use)."""
        found = set(SPECS) if self.synthetic else set()
        if self.root.is_dir():
            found |= {p.name for p in self.root.iterdir()
                      if p.is_dir() and self.base_timeframe(p.name) is not None}
        return sorted(found)

    def has_symbol(self, symbol: str) -> bool:
        return (self.synthetic and symbol in SPECS) or self.base_timeframe(symbol) is not None

    def base_timeframe(self, symbol: str) -> str | None:
        """The finest timeframe stored with a source (None: nothing stored)."""
        for tf in TIMEFRAMES:
            if _SOURCE in self._metadata(self.path(symbol, tf)):
                return tf
        return None

    def finest_timeframe(self, symbol: str) -> str | None:
        """The finest timeframe `symbol` can be run on (None: an unknown symbol)."""
        base = self.base_timeframe(symbol)
        if base is None and self.synthetic and symbol in SPECS:
            return "1m"
        return base

    def bars(
        self, symbol: str, timeframe: str, start_ms: int | None = None, end_ms: int | None = None
    ) -> Bars:
        """Bars with start_ms <= open_time < end_ms (None = unbounded)."""
        if timeframe not in TIMEFRAMES:
            raise ValueError(f"unknown timeframe {timeframe!r}")
        if not self.has_symbol(symbol):
            raise BacktestError(UNKNOWN_SYMBOL, f"no market data for symbol {symbol!r}")
        return self._load(symbol, timeframe).slice_time(start_ms, end_ms)

    def info(self, symbol: str) -> dict[str, object]:
        """What is stored for `symbol` (no generation, no resampling)."""
        base = self.base_timeframe(symbol)
        out: dict[str, object] = {"symbol": symbol, "stored": base is not None}
        if base is not None:
            p = self.path(symbol, base)
            meta = pq.read_metadata(p)
            kv = meta.metadata or {}
            out["source"] = kv.get(_SOURCE, b"?").decode()
            out["base_timeframe"] = base
            out["bars"] = meta.num_rows
            t = self._read(p).open_time_ms
            out["first_open_ms"] = int(t[0]) if len(t) else None
            out["last_open_ms"] = int(t[-1]) if len(t) else None
            out["timeframes"] = [tf for tf in TIMEFRAMES if self.path(symbol, tf).is_file()]
        else:
            synthetic = symbol in SPECS
            out["source"] = f"synthetic:v{GENERATOR_VERSION}" if synthetic else None
            out["base_timeframe"] = "1m" if synthetic else None
            out["timeframes"] = []
        return out

    def path(self, symbol: str, timeframe: str) -> Path:
        return self.root / symbol / f"{timeframe}.parquet"

    # -- writes ------------------------------------------------------------
    def ensure(self, symbol: str, timeframes: tuple[str, ...] = ("1m",)) -> None:
        """Generate/resample and cache the given timeframes now (e.g. at worker start)."""
        for tf in timeframes:
            self.bars(symbol, tf, 0, 0)

    def generate_if_missing(self, symbol: str) -> bool:
        """Write the synthetic 1m file of `symbol` unless it is stored; True if this
        call generated it. Waits while another process or thread generates it."""
        if self.base_timeframe(symbol) is not None or not (self.synthetic and symbol in SPECS):
            return False
        lock_path = self.root / symbol / ".generate.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
            if self.base_timeframe(symbol) is not None:
                return False
            self.write_base(symbol, "1m", generate_1m(symbol), f"synthetic:v{GENERATOR_VERSION}")
            return True

    def write_base(self, symbol: str, timeframe: str, bars: Bars, source: str) -> None:
        """Replace the data of `symbol` by `bars` of `timeframe`: every other timeframe's
        file goes (a finer base would shadow this one, a coarser file is rebuilt from
        it), and the base is written with a new generation."""
        for tf in TIMEFRAMES:
            if tf != timeframe:
                self.path(symbol, tf).unlink(missing_ok=True)
        self._write(
            self.path(symbol, timeframe),
            bars,
            {_SOURCE: source.encode(), _GENERATION: uuid.uuid4().hex.encode()},
        )

    def read_base_if_stored(self, symbol: str) -> tuple[Bars, str, str] | None:
        """(bars, source, timeframe) of the stored base, or None."""
        base = self.base_timeframe(symbol)
        if base is None:
            return None
        p = self.path(symbol, base)
        return self._read(p), self._metadata(p).get(_SOURCE, b"?").decode(), base

    # -- internals ---------------------------------------------------------
    def _load(self, symbol: str, timeframe: str) -> Bars:
        base = self.base_timeframe(symbol)
        if base is None:
            if not (self.synthetic and symbol in SPECS):
                raise BacktestError(UNKNOWN_SYMBOL, f"no market data for symbol {symbol!r}")
            self.generate_if_missing(symbol)
            base = "1m"
        if TIMEFRAME_MS[timeframe] < TIMEFRAME_MS[base]:
            raise BacktestError(INVALID_CONFIG, too_fine_message(symbol, timeframe, base))
        p_base = self.path(symbol, base)
        if timeframe == base:
            return self._read(p_base)
        generation = self._metadata(p_base).get(_GENERATION, b"")
        p = self.path(symbol, timeframe)
        if self._metadata(p).get(_FROM_GENERATION) == generation:
            return self._read(p)
        bars = resample(self._read(p_base), timeframe)
        self._write(p, bars, {_FROM_GENERATION: generation})
        return bars

    def _metadata(self, path: Path) -> dict[bytes, bytes]:
        """A file's Parquet key-value metadata ({} if absent), re-read only when the file
        changed: the base is looked up on every query."""
        try:
            st = path.stat()
        except FileNotFoundError:
            return {}
        key = (str(path), st.st_mtime_ns, st.st_size)
        with self._lock:
            hit = self._meta_cache.get(key)
        if hit is None:
            hit = dict(pq.read_metadata(path).metadata or {})
            with self._lock:
                self._meta_cache[key] = hit
                while len(self._meta_cache) > _META_ENTRIES:
                    self._meta_cache.popitem(last=False)
        return hit

    def _read(self, path: Path) -> Bars:
        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        table = pq.read_table(path, memory_map=True)
        cols = [
            table.column(c).to_numpy()
            for c in ("open_time", "open", "high", "low", "close", "volume")
        ]
        bars = Bars.from_arrays(*cols)
        with self._lock:
            self._cache[key] = bars
            while len(self._cache) > _CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return bars

    def _write(self, path: Path, bars: Bars, metadata: dict[bytes, bytes]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.table(
            {
                "open_time": pa.array(bars.open_time_ms, type=pa.int64()),
                "open": bars.open,
                "high": bars.high,
                "low": bars.low,
                "close": bars.close,
                "volume": bars.volume,
            }
        ).replace_schema_metadata(metadata)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        try:
            pq.write_table(table, tmp, compression="zstd")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def too_fine_message(symbol: str, timeframe: str, finest: str) -> str:
    return (f"{symbol} has {finest} bars at the finest: a {timeframe} run needs finer data "
            f"(use {finest} or coarser)")


def empty_bars() -> Bars:
    e = np.empty(0)
    return Bars.from_arrays(np.empty(0, dtype=np.int64), e, e, e, e, e)
