"""tpl_breakout kernel: Donchian-channel stop-and-reverse target exposure."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def breakout_kernel(high, low, close, lookback):
    """target[i] in {-1, 0, 1} decided at bar i's close: +1 once close[i] > max(high[i-L:i]),
    -1 once close[i] < min(low[i-L:i]), otherwise unchanged. Rolling extremes use
    monotonic deques, so the cost is O(n) whatever the lookback."""
    n = close.shape[0]
    target = np.zeros(n)
    qmax = np.empty(n, dtype=np.int64)
    qmin = np.empty(n, dtype=np.int64)
    hmax = tmax = hmin = tmin = 0
    pos = 0.0
    for i in range(n):
        if i >= lookback:
            while qmax[hmax] < i - lookback:
                hmax += 1
            while qmin[hmin] < i - lookback:
                hmin += 1
            if close[i] > high[qmax[hmax]]:
                pos = 1.0
            elif close[i] < low[qmin[hmin]]:
                pos = -1.0
        target[i] = pos
        while tmax > hmax and high[qmax[tmax - 1]] <= high[i]:
            tmax -= 1
        qmax[tmax] = i
        tmax += 1
        while tmin > hmin and low[qmin[tmin - 1]] >= low[i]:
            tmin -= 1
        qmin[tmin] = i
        tmin += 1
    return target
