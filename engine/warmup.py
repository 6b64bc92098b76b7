"""Compile every numba kernel once, on tiny in-memory data, before real jobs arrive.

Every registered template (`engine.templates.TEMPLATES`) runs with its
`warm_up_params` under every fee model. The tiny bars go through
`Bars.from_arrays` like stored data (read-only arrays), so the signatures
compiled here are exactly those real jobs use and the first job compiles
nothing. With ``cache=True`` the machine code is also written next to the
modules, so a second process only loads it (~0.25 s instead of ~7 s).
"""

from __future__ import annotations

import numpy as np

from engine.contract import BacktestConfig
from engine.fees import FEE_MODELS
from engine.marketdata.bars import Bars
from engine.marketdata.synthetic import synthetic_path_kernel
from engine.runner import simulate
from engine.templates import TEMPLATES

_WARM_FEE_BPS = 5.0


def warm_up() -> None:
    n = 200
    t = 1_704_067_200_000 + 60_000 * np.arange(n, dtype=np.int64)
    close = 100.0 + 8.0 * np.sin(np.arange(n) / 7.0)
    open_ = np.r_[close[0], close[:-1]]
    bars = Bars.from_arrays(
        t, open_, np.maximum(open_, close) + 0.5, np.minimum(open_, close) - 0.5, close, np.ones(n)
    )
    for tpl in TEMPLATES.values():
        for fee_model in FEE_MODELS.values():
            config = BacktestConfig(
                template_id=tpl.id,
                params=dict(tpl.warm_up_params),
                symbols=("WARMUP",),
                timeframe="1m",
                start_ms=int(t[0]),
                end_ms=int(t[-1]) + 60_000,
                capital=1000.0,
                leverage=3,
                fee_model=fee_model.id,
                fee_bps=_WARM_FEE_BPS if fee_model.takes_bps else None,
            )
            simulate(config, {"WARMUP": bars})
    z = np.zeros(4)
    synthetic_path_kernel(z, z, np.ones(4), 1e-8, 0.03, 0.9, 1e-4, 0.99, 0.3)
