"""tpl_sma_cross: fast/slow simple moving average crossover (kernel: engine.kernels.sma_cross)."""

from __future__ import annotations

import numpy as np

from engine.contract import ConfigError
from engine.kernels.sma_cross import sma_cross_kernel
from engine.marketdata.bars import Bars
from engine.templates.base import Params, SignalTemplate, object_schema


class SmaCross(SignalTemplate):
    id = "tpl_sma_cross"
    name = "SMA crossover"
    description = (
        "Long while the fast simple moving average of closes is above the slow one, short "
        "while below; changes are market orders at the next bar's open, sized to "
        "equity x leverage."
    )
    params = object_schema(
        {
            "fast": {
                "type": "integer",
                "minimum": 1,
                "maximum": 10_000,
                "default": 20,
                "description": "Fast SMA length in bars; < slow.",
            },
            "slow": {
                "type": "integer",
                "minimum": 2,
                "maximum": 20_000,
                "default": 50,
                "description": "Slow SMA length in bars.",
            },
        },
        [],
    )
    warm_up_params = {"fast": 3, "slow": 8}

    def check(self, params: Params) -> None:
        if not params["fast"] < params["slow"]:
            raise ConfigError("params.slow", "must be greater than fast")

    def target(self, bars: Bars, params: Params) -> np.ndarray:
        return sma_cross_kernel(bars.close, int(params["fast"]), int(params["slow"]))


TEMPLATE = SmaCross()
