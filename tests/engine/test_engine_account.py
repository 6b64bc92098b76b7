"""The fills/fees/margin kernel: fee models and the liquidation rule."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from engine.fees import TIER_TABLE, fee_tiers
from engine.kernels.account import CASH, LIQUIDATED, TIER, account_kernel, new_account_state
from engine.marketdata.bars import Bars
from engine.runner import MAINTENANCE_MARGIN_RATE
from tests.engine.helpers import T0, make_bars

DAY = 86_400_000


def run_account(
    bars: Bars,
    fills: list[tuple[int, float, float, bool, bool]],
    *,
    capital: float = 1000.0,
    leverage: float = 1.0,
    fee_model: str = "fixed_bps",
    fee_bps: float | None = 0.0,
    tags: int = 1,
    slippage: tuple[int, float] = (0, 0.0),
    funding: tuple[np.ndarray, np.ndarray] = (np.empty(0, np.int64), np.empty(0)),
) -> tuple[dict, np.ndarray, tuple]:
    """fills: (bar, price, qty_or_target, is_target, maker), all on tag 0."""
    state = new_account_state(capital, tags)
    equity = np.empty(len(bars) + 1)
    equity[0] = capital
    f: list[Any] = list(zip(*fills, strict=True)) if fills else [[], [], [], [], []]
    trades = account_kernel(
        bars.open_time_ms,
        bars.open,
        bars.high,
        bars.low,
        bars.close,
        bars.volume,
        60_000,
        0,
        len(bars),
        True,
        np.array(f[0], dtype=np.int64),
        np.array(f[1], dtype=np.float64),
        np.array(f[2], dtype=np.float64),
        np.array(f[3], dtype=np.bool_),
        np.array(f[4], dtype=np.bool_),
        np.zeros(len(fills), dtype=np.int64),
        leverage,
        MAINTENANCE_MARGIN_RATE,
        *slippage,
        *funding,
        *fee_tiers(fee_model, fee_bps),
        state["st"],
        state["st_i"],
        state["lot_qty"],
        state["lot_price"],
        state["lot_time"],
        state["lot_fee"],
        state["lot_funding"],
        state["day_volume"],
        equity,
    )
    return state, equity, trades


def test_fixed_bps_on_every_fill_notional() -> None:
    bars = make_bars([(100, 100, 100, 100), (110, 110, 110, 110)])
    _, equity, tr = run_account(
        bars, [(0, 100.0, 2.0, False, True), (1, 110.0, -2.0, False, False)], fee_bps=7.5
    )
    fees = 2 * 100 * 7.5e-4 + 2 * 110 * 7.5e-4
    assert tr[6][0] == pytest.approx(fees)
    assert tr[7][0] == pytest.approx(20.0 - fees)
    assert equity[-1] == pytest.approx(1000 + 20 - fees)


def test_tiered_maker_taker_rates_and_daily_tier() -> None:
    # One bar per day; 20M of volume on day 0 lifts the tier from day 1 (VIP1: 1.6 / 4.0 bps);
    # after 31 quiet days the window has forgotten it (back to 2.0 / 5.0 bps).
    days = [0, 1, 2, 40]
    bars = Bars.from_arrays(
        np.array([T0 + d * DAY for d in days], dtype=np.int64),
        np.full(4, 100.0),
        np.full(4, 100.0),
        np.full(4, 100.0),
        np.full(4, 100.0),
        np.ones(4),
    )
    fills = [
        (0, 100.0, 200_000.0, False, False),  # taker, 20M notional, tier 0: 5 bps
        (1, 100.0, -100_000.0, False, True),  # maker on day 1: tier 1 -> 1.6 bps
        (2, 100.0, -100_000.0, False, False),  # taker on day 2: 4.0 bps
        (3, 100.0, 1.0, False, True),  # maker on day 40: tier 0 -> 2.0 bps
    ]
    state, _, tr = run_account(
        bars, fills, capital=30e6, fee_model="tiered_maker_taker", fee_bps=None
    )
    assert TIER_TABLE[1][1:] == (1.6, 4.0)
    entry_fee = 20e6 * 5e-4
    assert tr[6][0] == pytest.approx(entry_fee / 2 + 10e6 * 1.6e-4)
    assert tr[6][1] == pytest.approx(entry_fee / 2 + 10e6 * 4.0e-4)
    # the final close of the 1-unit lot (taker, day 40 = tier 0) and its maker entry
    assert tr[6][2] == pytest.approx(100 * 2.0e-4 + 100 * 5.0e-4)
    assert state["st_i"][TIER] == 0


def test_liquidation_long_at_maintenance_margin() -> None:
    # 10x long: qty = 1000 * 10 / 100 = 100, cash = -9000.
    # Liquidated when 100 p - 9000 <= 0.005 * 100 p  ->  p_liq = 9000 / (100 * 0.995).
    bars = make_bars(
        [(100, 100, 100, 100), (100, 100, 95, 96), (96, 96, 90, 91), (91, 120, 91, 120)]
    )
    state, equity, tr = run_account(bars, [(0, 100.0, 1.0, True, False)], leverage=10.0)
    p_liq = 9000 / (100 * (1 - MAINTENANCE_MARGIN_RATE))
    assert state["st"][LIQUIDATED] == 1.0
    assert tr[4].tolist() == [pytest.approx(p_liq)]  # exit price
    assert tr[2].tolist() == [T0 + 2 * 60_000]  # on the bar whose low reached it
    assert equity[1] == pytest.approx(1000.0)
    assert equity[2] == pytest.approx(1000 - 400)  # 95 low did not liquidate (p_liq ~ 90.45)
    assert equity[3] == 0.0 and equity[4] == 0.0  # wiped out, no recovery afterwards
    assert tr[7][0] == pytest.approx(-1000.0)  # the whole margin is lost
    assert state["st"][CASH] == 0.0


def test_liquidation_short_and_gap_uses_open() -> None:
    # 10x short: qty -100, cash 11000; p_liq = 11000 / (100 * 1.005) ~ 109.45; the bar opens at 115.
    bars = make_bars([(100, 100, 100, 100), (115, 116, 114, 115)])
    state, equity, tr = run_account(bars, [(0, 100.0, -1.0, True, False)], leverage=10.0)
    assert state["st"][LIQUIDATED] == 1.0
    assert tr[0].tolist() == [-1] and tr[4].tolist() == [115.0]
    assert equity[-1] == 0.0
    assert tr[7][0] == pytest.approx(-1000.0)  # insurance fund covers the gap beyond bankruptcy


def test_no_liquidation_at_1x_long() -> None:
    bars = make_bars([(100, 100, 100, 100), (100, 100, 10, 12)])
    state, equity, _ = run_account(bars, [(0, 100.0, 1.0, True, False)], leverage=1.0)
    assert state["st"][LIQUIDATED] == 0.0
    assert equity[-1] == pytest.approx(120.0)
