"""Hand-made bars and config helpers for the engine tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.marketdata.bars import Bars

T0 = 1_735_689_600_000  # 2025-01-01T00:00:00Z
MIN = 60_000


def make_bars(
    rows: list[tuple[float, float, float, float]], step_ms: int = MIN, t0: int = T0
) -> Bars:
    """Bars from (open, high, low, close) rows, one per `step_ms` from t0."""
    a = np.array(rows, dtype=np.float64)
    t = t0 + step_ms * np.arange(len(rows), dtype=np.int64)
    return Bars.from_arrays(t, a[:, 0], a[:, 1], a[:, 2], a[:, 3], np.ones(len(rows)))


def closes_to_bars(closes: list[float], t0: int = T0) -> Bars:
    """Flat-wick bars: open = previous close, high/low = max/min of open and close."""
    c = np.array(closes, dtype=np.float64)
    o = np.r_[c[0], c[:-1]]
    return make_bars(
        [(oo, max(oo, cc), min(oo, cc), cc) for oo, cc in zip(o, c, strict=True)], t0=t0
    )


def api_config(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "template_id": "tpl_grid",
        "params": {"grid_levels": 8, "upper_price": "72000", "lower_price": "60000"},
        "symbols": ["BTCUSDT"],
        "timeframe": "1h",
        "start": "2025-01-01T00:00:00Z",
        "end": "2025-12-31T23:59:59Z",
        "capital": "10000.00",
        "leverage": 1,
        "fee_model": "fixed_bps",
        "fee_bps": "5",
    }
    base.update(over)
    return base
