"""Fee models as tier tables the account kernel reads.

`fixed_bps` is a one-row table (maker = taker = fee_bps). `tiered_maker_taker`
uses the table below, modelled on a major exchange's USD-M futures VIP 0-5
schedule. The tier is re-evaluated at 00:00 UTC each day from the traded quote
volume (sum of fill notionals) of the preceding 30 UTC days, as exchanges do;
volume is counted per symbol sleeve of the job.
"""

from __future__ import annotations

import numpy as np

# (30-day quote volume from, maker bps, taker bps)
TIER_TABLE: tuple[tuple[float, float, float], ...] = (
    (0.0, 2.0, 5.0),
    (15_000_000.0, 1.6, 4.0),
    (50_000_000.0, 1.4, 3.5),
    (100_000_000.0, 1.2, 3.2),
    (600_000_000.0, 1.0, 3.0),
    (1_000_000_000.0, 0.8, 2.7),
)


def fee_tiers(fee_model: str, fee_bps: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(volume thresholds, maker bps, taker bps) arrays for the account kernel."""
    if fee_model == "fixed_bps":
        bps = float(fee_bps or 0.0)
        return np.zeros(1), np.array([bps]), np.array([bps])
    table = np.array(TIER_TABLE, dtype=np.float64)
    return (
        np.ascontiguousarray(table[:, 0]),
        np.ascontiguousarray(table[:, 1]),
        np.ascontiguousarray(table[:, 2]),
    )
