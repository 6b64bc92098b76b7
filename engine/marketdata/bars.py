"""OHLCV bars as plain column arrays: the one shape market data takes in the engine.

Kernels take these arrays directly; `open_time_ms` is the bar's open time in Unix
milliseconds UTC, strictly increasing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COLUMNS: tuple[str, ...] = ("open_time", "open", "high", "low", "close", "volume")


@dataclass(frozen=True, slots=True)
class Bars:
    open_time_ms: np.ndarray  # int64
    open: np.ndarray  # float64
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return int(self.open_time_ms.shape[0])

    def slice_time(self, start_ms: int | None, end_ms: int | None) -> Bars:
        """Bars with start_ms <= open_time < end_ms (None = unbounded); views, no copy."""
        t = self.open_time_ms
        lo = 0 if start_ms is None else int(np.searchsorted(t, start_ms, side="left"))
        hi = len(t) if end_ms is None else int(np.searchsorted(t, end_ms, side="left"))
        return Bars(
            t[lo:hi],
            self.open[lo:hi],
            self.high[lo:hi],
            self.low[lo:hi],
            self.close[lo:hi],
            self.volume[lo:hi],
        )

    @staticmethod
    def from_arrays(
        open_time_ms: np.ndarray,
        open_: np.ndarray,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        volume: np.ndarray,
    ) -> Bars:
        """Normalise dtypes and memory layout (the kernels are compiled for exactly these)."""
        f8 = np.float64
        return Bars(
            np.ascontiguousarray(open_time_ms, dtype=np.int64),
            np.ascontiguousarray(open_, dtype=f8),
            np.ascontiguousarray(high, dtype=f8),
            np.ascontiguousarray(low, dtype=f8),
            np.ascontiguousarray(close, dtype=f8),
            np.ascontiguousarray(volume, dtype=f8),
        )
