"""Bar timeframes the engine understands, and what they mean in time.

One table, shared by config validation, resampling and the runner, so a timeframe
string means the same bar length everywhere. (Annualisation is not a property of
the timeframe: engine/metrics.py counts the bars per year the series has.)
"""

from __future__ import annotations

MINUTE_MS = 60_000
DAY_MS = 86_400_000

TIMEFRAME_MS: dict[str, int] = {
    "1m": MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "1h": 60 * MINUTE_MS,
    "4h": 240 * MINUTE_MS,
    "1d": DAY_MS,
}

TIMEFRAMES: tuple[str, ...] = tuple(TIMEFRAME_MS)
