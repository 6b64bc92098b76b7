"""Bar timeframes the engine understands, and what they mean in time.

One table, shared by config validation, resampling and metrics, so a timeframe
string means the same bar length and the same annualisation everywhere.
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


def periods_per_year(timeframe: str) -> float:
    """Bars in a 365-day year (crypto trades every day): 525,600 for 1m, 365 for 1d."""
    return 365 * DAY_MS / TIMEFRAME_MS[timeframe]
