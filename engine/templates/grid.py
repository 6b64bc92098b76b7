"""tpl_grid: grid trading between two prices (kernel: engine.kernels.grid)."""

from __future__ import annotations

import numpy as np

from engine.contract import ConfigError
from engine.feeds import FillFeed, GridFeed
from engine.marketdata.bars import Bars
from engine.templates.base import Params, Template, decimal_param, object_schema


class Grid(Template):
    id = "tpl_grid"
    name = "Grid trading"
    description = (
        "Evenly spaced price levels from lower_price to upper_price. Each cell between "
        "two adjacent levels trades one fixed quantity: a resting limit buy at its lower "
        "level, then a resting limit sell at its upper level, again and again. Cells above "
        "the first bar's open are bought at market at the start (as exchange grid bots do). "
        "Capital x leverage is split equally across cells. Limit fills are maker fills."
    )
    params = object_schema(
        {
            "grid_levels": {
                "type": "integer",
                "minimum": 2,
                "maximum": 500,
                "description": "Number of price levels including both bounds "
                "(cells = grid_levels - 1).",
            },
            "upper_price": decimal_param("Highest level, quote currency; > lower_price."),
            "lower_price": decimal_param("Lowest level, quote currency; > 0."),
        },
        ["grid_levels", "upper_price", "lower_price"],
    )
    warm_up_params = {"grid_levels": 5, "upper_price": 110.0, "lower_price": 90.0}

    def check(self, params: Params) -> None:
        if not params["upper_price"] > params["lower_price"]:
            raise ConfigError("params.upper_price", "must be greater than lower_price")

    def feed(self, bars: Bars, params: Params, capital: float, leverage: int) -> FillFeed:
        n_levels = int(params["grid_levels"])
        lower, upper = float(params["lower_price"]), float(params["upper_price"])
        step = (upper - lower) / (n_levels - 1)
        levels = lower + step * np.arange(n_levels, dtype=np.float64)
        # Equal quote notional per cell: capital x leverage / cells at the cell's buy level.
        cell_qty = capital * leverage / (n_levels - 1) / levels[:-1]
        return GridFeed(bars, levels, np.ascontiguousarray(cell_qty))


TEMPLATE = Grid()
