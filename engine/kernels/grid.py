"""tpl_grid kernel: which resting grid orders fill, bar by bar.

Levels L_0 < ... < L_{n-1} are evenly spaced; cell j = [L_j, L_{j+1}] trades a
fixed quantity: when empty it rests a buy at L_j, when holding a sell at
L_{j+1}. At the first bar every cell with L_j >= open is bought at market
(taker) so that sells rest above the price, like an exchange grid bot.

The intrabar path is assumed to be open -> low -> high -> close for an up bar
(close >= open) and open -> high -> low -> close otherwise, preceded by a leg
from the previous close to this open (a gap). On a falling leg every empty cell
whose buy level the price reaches fills at its level (maker); on a rising leg
every holding cell whose sell level is reached fills at its level. A cell can
round-trip several times within one bar if the path allows it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# grid state slots: highest resting buy and lowest resting sell price let a bar
# that touches neither skip the per-leg work (most bars of a 1m series).
INITIALIZED, LAST_PRICE, BEST_BUY, BEST_SELL = 0, 1, 2, 3
N_GRID_STATE = 4


@njit(cache=True)
def _grow(a):
    b = np.empty(a.shape[0] * 2, dtype=a.dtype)
    b[: a.shape[0]] = a
    return b


# inline="always": a plain call would incref/decref seven arrays four times per bar.
@njit(cache=True, inline="always")
def _leg(a, b, bar, levels, cells, cell_qty, fb, fp, fq, fm, ftag, n):
    """Fills for the price moving from a to b; returns the new fill count."""
    n_cells = cells.shape[0]
    lower = levels[0]
    step = levels[1] - levels[0]
    if b < a:  # falling: buys at L_j for empty cells, highest level first
        j_hi = min(int(math.floor((a - lower) / step)) + 1, n_cells - 1)
        j_lo = max(int(math.ceil((b - lower) / step)) - 1, 0)
        for j in range(j_hi, j_lo - 1, -1):
            lv = levels[j]
            if cells[j] == 0 and b <= lv <= a:
                cells[j] = 1
                fb[n] = bar
                fp[n] = lv
                fq[n] = cell_qty[j]
                fm[n] = True
                ftag[n] = j
                n += 1
    elif b > a:  # rising: sells at L_{j+1} for holding cells, lowest level first
        j_lo = max(int(math.ceil((a - lower) / step)) - 2, 0)
        j_hi = min(int(math.floor((b - lower) / step)), n_cells - 1)
        for j in range(j_lo, j_hi + 1):
            lv = levels[j + 1]
            if cells[j] == 1 and a <= lv <= b:
                cells[j] = 0
                fb[n] = bar
                fp[n] = lv
                fq[n] = -cell_qty[j]
                fm[n] = True
                ftag[n] = j
                n += 1
    return n


@njit(cache=True, inline="always")
def _resting_bounds(levels, cells, gst):
    best_buy = -np.inf
    best_sell = np.inf
    for j in range(cells.shape[0]):
        if cells[j] == 0:
            best_buy = max(best_buy, levels[j])
        else:
            best_sell = min(best_sell, levels[j + 1])
    gst[BEST_BUY] = best_buy
    gst[BEST_SELL] = best_sell


@njit(cache=True)
def grid_kernel(open_, high, low, close, i0, i1, levels, cell_qty, cells, gst):
    """Fills of bars [i0, i1) as (bar, price, signed qty, is_target, maker, tag) arrays.
    `cells` (int8, 1 = holding) and `gst` (float64[N_GRID_STATE]) carry the state
    between chunks."""
    n_cells = cells.shape[0]
    cap = 2 * (i1 - i0) + 4 * n_cells + 16
    fb = np.empty(cap, dtype=np.int64)
    fp = np.empty(cap)
    fq = np.empty(cap)
    fm = np.zeros(cap, dtype=np.bool_)
    ftag = np.empty(cap, dtype=np.int64)
    n = 0
    if i1 <= i0:
        return fb[:0], fp[:0], fq[:0], fm[:0], fm[:0], ftag[:0]
    if gst[INITIALIZED] == 0.0:
        p0 = open_[i0]
        for j in range(n_cells):
            if levels[j] >= p0:
                cells[j] = 1
                fb[n] = i0
                fp[n] = p0
                fq[n] = cell_qty[j]
                fm[n] = False  # market order: taker
                ftag[n] = j
                n += 1
        gst[INITIALIZED] = 1.0
        gst[LAST_PRICE] = p0
        _resting_bounds(levels, cells, gst)
    for i in range(i0, i1):
        # Invariant: best_buy < last price < best_sell, so a bar inside the band fills nothing.
        if low[i] > gst[BEST_BUY] and high[i] < gst[BEST_SELL]:
            gst[LAST_PRICE] = close[i]
            continue
        n_before = n
        if n + 4 * n_cells > fb.shape[0]:
            fb = _grow(fb)
            fp = _grow(fp)
            fq = _grow(fq)
            fm = _grow(fm)
            ftag = _grow(ftag)
        o = open_[i]
        n = _leg(gst[LAST_PRICE], o, i, levels, cells, cell_qty, fb, fp, fq, fm, ftag, n)
        if close[i] >= o:
            n = _leg(o, low[i], i, levels, cells, cell_qty, fb, fp, fq, fm, ftag, n)
            n = _leg(low[i], high[i], i, levels, cells, cell_qty, fb, fp, fq, fm, ftag, n)
            n = _leg(high[i], close[i], i, levels, cells, cell_qty, fb, fp, fq, fm, ftag, n)
        else:
            n = _leg(o, high[i], i, levels, cells, cell_qty, fb, fp, fq, fm, ftag, n)
            n = _leg(high[i], low[i], i, levels, cells, cell_qty, fb, fp, fq, fm, ftag, n)
            n = _leg(low[i], close[i], i, levels, cells, cell_qty, fb, fp, fq, fm, ftag, n)
        gst[LAST_PRICE] = close[i]
        if n != n_before:
            _resting_bounds(levels, cells, gst)
    is_target = np.zeros(n, dtype=np.bool_)
    return fb[:n], fp[:n], fq[:n], is_target, fm[:n], ftag[:n]
