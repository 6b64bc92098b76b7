"""Fee models: each a small object that turns a config's fee settings into the tier
table the account kernel reads (volume thresholds, maker bps, taker bps).

`fixed_bps` is a one-row table (maker = taker = fee_bps). `tiered_maker_taker`
uses the table below, modelled on a major exchange's USD-M futures VIP 0-5
schedule. The tier is re-evaluated at 00:00 UTC each day from the traded quote
volume (sum of fill notionals) of the preceding 30 UTC days, as exchanges do;
volume is counted per symbol sleeve of the job. `FEE_MODELS` is the one list of
models: config validation and the runner both read it (docs/engine.md, "Fees").
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

FeeTiers = tuple[np.ndarray, np.ndarray, np.ndarray]

# (30-day quote volume from, maker bps, taker bps)
TIER_TABLE: tuple[tuple[float, float, float], ...] = (
    (0.0, 2.0, 5.0),
    (15_000_000.0, 1.6, 4.0),
    (50_000_000.0, 1.4, 3.5),
    (100_000_000.0, 1.2, 3.2),
    (600_000_000.0, 1.0, 3.0),
    (1_000_000_000.0, 0.8, 2.7),
)


class FeeModel(ABC):
    id: ClassVar[str]
    takes_bps: ClassVar[bool]  # whether the config's fee_bps is required (else forbidden)

    @abstractmethod
    def tiers(self, fee_bps: float | None) -> FeeTiers:
        """(volume thresholds, maker bps, taker bps) arrays for the account kernel."""


class FixedBps(FeeModel):
    id = "fixed_bps"
    takes_bps = True

    def tiers(self, fee_bps: float | None) -> FeeTiers:
        bps = float(fee_bps or 0.0)
        return np.zeros(1), np.array([bps]), np.array([bps])


class TieredMakerTaker(FeeModel):
    id = "tiered_maker_taker"
    takes_bps = False

    def tiers(self, fee_bps: float | None) -> FeeTiers:
        table = np.array(TIER_TABLE, dtype=np.float64)
        return (
            np.ascontiguousarray(table[:, 0]),
            np.ascontiguousarray(table[:, 1]),
            np.ascontiguousarray(table[:, 2]),
        )


FEE_MODELS: dict[str, FeeModel] = {m.id: m for m in (FixedBps(), TieredMakerTaker())}


def fee_tiers(fee_model: str, fee_bps: float | None) -> FeeTiers:
    """The tier table of the model named `fee_model` (a key of FEE_MODELS)."""
    return FEE_MODELS[fee_model].tiers(fee_bps)
