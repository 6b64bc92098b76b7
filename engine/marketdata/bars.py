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
        """Normalise dtypes and memory layout (the kernels are compiled for exactly these).

        The arrays are read-only: bars are shared through the store's cache by
        every job of a worker, and numba compiles (and caches) one signature for
        read-only arrays, which `warm_up` compiles ahead of the first job."""
        f8 = np.float64
        return Bars(
            _frozen(open_time_ms, np.int64),
            _frozen(open_, f8),
            _frozen(high, f8),
            _frozen(low, f8),
            _frozen(close, f8),
            _frozen(volume, f8),
        )


def _frozen(a: np.ndarray, dtype: type) -> np.ndarray:
    view: np.ndarray = np.ascontiguousarray(a, dtype=dtype).view()
    view.flags.writeable = False
    return view
