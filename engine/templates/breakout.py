"""tpl_breakout: Donchian channel stop-and-reverse (kernel: engine.kernels.breakout)."""

from __future__ import annotations

import numpy as np

from engine.kernels.breakout import breakout_kernel
from engine.marketdata.bars import Bars
from engine.templates.base import Params, SignalTemplate, object_schema


class Breakout(SignalTemplate):
    id = "tpl_breakout"
    name = "Donchian breakout"
    description = (
        "Stop-and-reverse on a Donchian channel: at a bar's close above the highest high "
        "of the previous `lookback` bars go long, below the lowest low go short; the "
        "position is taken with a market order at the next bar's open, sized to "
        "equity x leverage."
    )
    params = object_schema(
        {
            "lookback": {
                "type": "integer",
                "minimum": 2,
                "maximum": 10_000,
                "description": "Channel length in bars.",
            },
        },
        ["lookback"],
    )
    warm_up_params = {"lookback": 5}

    def target(self, bars: Bars, params: Params) -> np.ndarray:
        return breakout_kernel(bars.high, bars.low, bars.close, int(params["lookback"]))


TEMPLATE = Breakout()
