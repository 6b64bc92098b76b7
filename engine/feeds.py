"""Fill feeds: where a sleeve's fills come from, chunk by chunk, for the account kernel.

A template turns its params and a symbol's bars into one feed (see
`engine.templates`); the runner asks it for the fills of bars [i0, i1) and hands
them to the account kernel. Two shapes cover every template so far: a stateful
kernel run chunk by chunk (the grid's resting orders), or a precomputed list of
market orders from a signal kernel's target position (-1/0/+1 per bar).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from engine.kernels.grid import N_GRID_STATE, grid_kernel
from engine.marketdata.bars import Bars


class FillFeed(ABC):
    """The fills (bar, price, qty, is_target, maker, tag) of bars [i0, i1), asked in order."""

    def __init__(self, n_tags: int) -> None:
        self.n_tags = n_tags  # independent positions (lots) the account kernel keeps

    @abstractmethod
    def fills(self, i0: int, i1: int) -> tuple[np.ndarray, ...]: ...


class GridFeed(FillFeed):
    """The grid kernel, one tag per cell, its cells and state carried across chunks."""

    def __init__(self, bars: Bars, levels: np.ndarray, cell_qty: np.ndarray) -> None:
        super().__init__(cell_qty.shape[0])
        self.bars = bars
        self.levels = levels
        self.cell_qty = cell_qty
        self.cells = np.zeros(cell_qty.shape[0], dtype=np.int8)
        self.gst = np.zeros(N_GRID_STATE)

    def fills(self, i0: int, i1: int) -> tuple[np.ndarray, ...]:
        b = self.bars
        return tuple(
            grid_kernel(
                b.open,
                b.high,
                b.low,
                b.close,
                i0,
                i1,
                self.levels,
                self.cell_qty,
                self.cells,
                self.gst,
            )
        )


class OrderListFeed(FillFeed):
    """Market orders to a target position, precomputed from a signal kernel's targets."""

    def __init__(self, bars: Bars, target: np.ndarray) -> None:
        super().__init__(1)
        # A decision at bar i's close becomes a market order at bar i+1's open.
        decided = target[:-1]
        previous = np.concatenate(([0.0], decided[:-1]))
        at = np.flatnonzero(decided != previous)
        self.bar = np.ascontiguousarray(at + 1, dtype=np.int64)
        self.price = np.ascontiguousarray(bars.open[self.bar])
        self.qty = np.ascontiguousarray(decided[at])
        self.is_target = np.ones(at.shape[0], dtype=np.bool_)
        self.maker = np.zeros(at.shape[0], dtype=np.bool_)
        self.tag = np.zeros(at.shape[0], dtype=np.int64)

    def fills(self, i0: int, i1: int) -> tuple[np.ndarray, ...]:
        lo, hi = np.searchsorted(self.bar, [i0, i1])
        return (
            self.bar[lo:hi],
            self.price[lo:hi],
            self.qty[lo:hi],
            self.is_target[lo:hi],
            self.maker[lo:hi],
            self.tag[lo:hi],
        )
