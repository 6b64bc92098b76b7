"""Slippage models: what a market order pays beyond the price it was sent at
(docs/engine.md, "Slippage"). Each turns a config's slippage settings into the
(kind, value) pair the account kernel reads (engine/kernels/account.py `_slippage`).

- `none` (the default): fills at the bar's price, as before.
- `fixed_bps`: every market fill pays `slippage_bps` of its price (buys higher,
  sells lower).
- `volume_share`: the price impact grows with the square of the order's share of
  the bar's volume, s = 0.1 x min(|qty| / volume, 1)^2: zipline's
  `VolumeShareSlippage` (Quantopian), price_impact 0.1. zipline caps the share a
  bar can fill (volume_limit 0.025) and fills the rest later; we fill the whole
  order on its bar, so the share is capped at 1 instead: an order of the bar's whole
  volume or more pays 10 %.

Resting limit orders (the grid's maker fills) fill at their price under every model;
liquidations at the liquidation price. `SLIPPAGE_MODELS` is the one list: config
validation and the runner both read it.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.kernels.account import SLIP_FIXED, SLIP_NONE, SLIP_VOLUME_SHARE

VOLUME_SHARE_IMPACT = 0.1  # zipline's VolumeShareSlippage price_impact


@dataclass(frozen=True)
class SlippageModel:
    id: str
    kind: int  # the kernel's code
    takes_bps: bool  # whether the config's slippage_bps is required (else forbidden)

    def kernel_args(self, slippage_bps: float | None) -> tuple[int, float]:
        if self.kind == SLIP_FIXED:
            return self.kind, (slippage_bps or 0.0) * 1e-4
        if self.kind == SLIP_VOLUME_SHARE:
            return self.kind, VOLUME_SHARE_IMPACT
        return self.kind, 0.0


SLIPPAGE_MODELS: dict[str, SlippageModel] = {
    m.id: m for m in (
        SlippageModel("none", SLIP_NONE, takes_bps=False),
        SlippageModel("fixed_bps", SLIP_FIXED, takes_bps=True),
        SlippageModel("volume_share", SLIP_VOLUME_SHARE, takes_bps=False),
    )
}
DEFAULT_SLIPPAGE = "none"
