"""One out-of-sample equity curve from a walk-forward sweep's test runs (docs/api.md,
"Walk-forward").

Each test run starts from the base config's capital; the stitched curve compounds them
as one portfolio: run k is scaled by s_k = S / E_0 (S: the stitched curve's last value
so far, E_0: run k's starting equity), so its returns are kept bar for bar. A run's
first point is dropped when it falls on the previous run's last time (test spans that
meet: step = test); after a gap (step > test) it stays, and the curve is flat across
the gap. The trades' profits are scaled by their run's s_k, so the trade metrics read
the same portfolio. Test spans that overlap are refused before a sweep is accepted
(jobs/walk_forward.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.metrics import compute_metrics


@dataclass(frozen=True)
class Run:
    """One test run's full equity curve and closed trades."""

    times_ms: np.ndarray  # int64
    equity: np.ndarray  # float64
    pnl: np.ndarray  # float64, one per trade
    entry_ms: np.ndarray  # int64
    exit_ms: np.ndarray  # int64


@dataclass(frozen=True)
class Stitched:
    times_ms: np.ndarray
    equity: np.ndarray
    scales: tuple[float, ...]  # s_k of each run
    pnl: np.ndarray
    entry_ms: np.ndarray
    exit_ms: np.ndarray

    def metrics(self) -> dict[str, float | int | None]:
        """The ten metrics of the stitched portfolio, by the engine's own functions."""
        return compute_metrics(self.equity, self.times_ms, self.pnl, self.entry_ms,
                               self.exit_ms)


def stitch(runs: Sequence[Run]) -> Stitched:
    """The runs (in time order, none overlapping the one before) as one curve."""
    times: list[np.ndarray] = []
    equity: list[np.ndarray] = []
    pnl: list[np.ndarray] = []
    scales: list[float] = []
    last: tuple[int, float] | None = None
    for run in runs:
        if run.equity.shape[0] == 0:
            raise ValueError("a test run without an equity curve")
        scale = 1.0 if last is None or run.equity[0] == 0 else last[1] / float(run.equity[0])
        keep = slice(1 if last is not None and int(run.times_ms[0]) <= last[0] else 0, None)
        if last is not None and int(run.times_ms[0]) < last[0]:
            raise ValueError("test runs overlap")
        scaled = run.equity * scale
        times.append(run.times_ms[keep])
        equity.append(scaled[keep])
        pnl.append(run.pnl * scale)
        scales.append(scale)
        last = int(run.times_ms[-1]), float(scaled[-1])
    return Stitched(
        times_ms=_joined(times, np.int64), equity=_joined(equity, np.float64),
        scales=tuple(scales), pnl=_joined(pnl, np.float64),
        entry_ms=_joined([r.entry_ms for r in runs], np.int64),
        exit_ms=_joined([r.exit_ms for r in runs], np.int64))


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)
