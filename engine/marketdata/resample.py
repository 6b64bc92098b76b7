"""Resampling 1m bars to higher timeframes.

Buckets are aligned to the Unix epoch in UTC (so 1d bars open at 00:00 UTC and 4h
bars at 00:00, 04:00, ...); a bucket's bar takes the first open, highest high,
lowest low, last close and summed volume of the 1m bars inside it. A bucket
with missing minutes (a gap in imported data) still yields a bar from the
minutes present; an empty bucket yields none.
"""

from __future__ import annotations

import numpy as np

from engine.marketdata.bars import Bars
from engine.timeframes import TIMEFRAME_MS


def resample(bars_1m: Bars, timeframe: str) -> Bars:
    step = TIMEFRAME_MS[timeframe]
    if step == TIMEFRAME_MS["1m"] or len(bars_1m) == 0:
        return bars_1m
    bucket = (bars_1m.open_time_ms // step) * step
    # Input is sorted, so bucket starts are where the bucket id changes.
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(bucket)] - 1
    return Bars.from_arrays(
        bucket[starts],
        bars_1m.open[starts],
        np.maximum.reduceat(bars_1m.high, starts),
        np.minimum.reduceat(bars_1m.low, starts),
        bars_1m.close[ends],
        np.add.reduceat(bars_1m.volume, starts),
    )
