"""tpl_rsi_reversion: Wilder RSI mean reversion (kernel: engine.kernels.rsi_reversion)."""

from __future__ import annotations

import numpy as np

from engine.contract import ConfigError
from engine.kernels.rsi_reversion import rsi_reversion_kernel
from engine.marketdata.bars import Bars
from engine.templates.base import Params, SignalTemplate, object_schema


class RsiReversion(SignalTemplate):
    id = "tpl_rsi_reversion"
    name = "RSI mean reversion"
    description = (
        "Wilder RSI: go long when it closes below `oversold`, short when above "
        "`overbought`, and go flat when it crosses back through 50. Market orders at the "
        "next bar's open, sized to equity x leverage."
    )
    params = object_schema(
        {
            "period": {
                "type": "integer",
                "minimum": 2,
                "maximum": 1_000,
                "default": 14,
                "description": "RSI length in bars (Wilder smoothing).",
            },
            "oversold": {
                "type": "number",
                "exclusiveMinimum": 0,
                "exclusiveMaximum": 50,
                "default": 30,
                "description": "Long entry threshold; < 50.",
            },
            "overbought": {
                "type": "number",
                "exclusiveMinimum": 50,
                "exclusiveMaximum": 100,
                "default": 70,
                "description": "Short entry threshold; > 50.",
            },
        },
        [],
    )
    warm_up_params = {"period": 5, "oversold": 30, "overbought": 70}

    def check(self, params: Params) -> None:
        if not params["oversold"] < 50 < params["overbought"]:
            raise ConfigError("params.overbought", "need oversold < 50 < overbought")

    def target(self, bars: Bars, params: Params) -> np.ndarray:
        return rsi_reversion_kernel(
            bars.close,
            int(params["period"]),
            float(params["oversold"]),
            float(params["overbought"]),
        )


TEMPLATE = RsiReversion()
