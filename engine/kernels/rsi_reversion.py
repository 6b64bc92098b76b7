"""tpl_rsi_reversion kernel: fade RSI extremes, exit at the midline."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def rsi_reversion_kernel(close, period, oversold, overbought):
    """Wilder RSI: avg gain/loss seeded with the simple mean of the first `period`
    changes, then avg = (avg * (period - 1) + x) / period; RSI = 100 - 100 / (1 + g / l)
    (100 if l = 0 < g, 50 if both 0). target[i]: +1 when RSI < oversold, -1 when
    RSI > overbought, 0 when a long sees RSI >= 50 or a short RSI <= 50."""
    n = close.shape[0]
    target = np.zeros(n)
    ag = 0.0
    al = 0.0
    pos = 0.0
    for i in range(1, n):
        ch = close[i] - close[i - 1]
        g = ch if ch > 0.0 else 0.0
        lo = -ch if ch < 0.0 else 0.0
        if i <= period:
            ag += g / period
            al += lo / period
        else:
            ag = (ag * (period - 1) + g) / period
            al = (al * (period - 1) + lo) / period
        if i >= period:
            if al == 0.0:  # noqa: SIM108 - keeps the three RSI cases readable
                rsi = 100.0 if ag > 0.0 else 50.0
            else:
                rsi = 100.0 - 100.0 / (1.0 + ag / al)
            if rsi < oversold:
                pos = 1.0
            elif rsi > overbought:
                pos = -1.0
            elif pos > 0.0 and rsi >= 50.0 or pos < 0.0 and rsi <= 50.0:
                pos = 0.0
        target[i] = pos
    return target
