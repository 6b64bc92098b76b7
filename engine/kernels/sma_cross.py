"""tpl_sma_cross kernel: long above, short below, from two simple moving averages."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def sma_cross_kernel(close, fast, slow):
    """target[i] = +1 if SMA_fast(i) > SMA_slow(i), -1 if below, unchanged if equal,
    0 until `slow` bars exist. SMA_k(i) = mean(close[i-k+1 : i+1])."""
    n = close.shape[0]
    target = np.zeros(n)
    sf = 0.0
    ss = 0.0
    pos = 0.0
    for i in range(n):
        sf += close[i]
        ss += close[i]
        if i >= fast:
            sf -= close[i - fast]
        if i >= slow:
            ss -= close[i - slow]
        if i >= slow - 1:
            d = sf / fast - ss / slow
            if d > 0.0:
                pos = 1.0
            elif d < 0.0:
                pos = -1.0
        target[i] = pos
    return target
