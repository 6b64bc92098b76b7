"""Slippage models (engine/slippage.py, the kernel's `_slippage`): hand-computed fills."""

from __future__ import annotations

import numpy as np
import pytest

from engine import parse_config
from engine.contract import ConfigError
from engine.marketdata.bars import Bars
from engine.slippage import SLIPPAGE_MODELS
from tests.engine.helpers import MIN, T0, api_config
from tests.engine.test_engine_account import run_account


def _bars(volume: float) -> Bars:
    t = T0 + MIN * np.arange(2, dtype=np.int64)
    rows = np.array([(100.0, 100.0, 100.0, 100.0), (100.0, 110.0, 100.0, 110.0)])
    return Bars.from_arrays(t, rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3],
                            np.full(2, volume))


def test_fixed_bps_market_fills_pay_it_both_ways() -> None:
    slip = SLIPPAGE_MODELS["fixed_bps"].kernel_args(10.0)
    _, equity, tr = run_account(_bars(1e9), [(0, 100.0, 1.0, True, False)], slippage=slip)
    # 10 units sized at the open (1000 / 100), bought at 100.1, sold at the final close
    # 110 x (1 - 0.001) = 109.89.
    assert tr[3].tolist() == [pytest.approx(100.1)] and tr[4].tolist() == [pytest.approx(109.89)]
    assert tr[7][0] == pytest.approx(10 * (109.89 - 100.1))
    assert equity[-1] == pytest.approx(1000 + 10 * (109.89 - 100.1))


def test_a_resting_limit_order_fills_at_its_price() -> None:
    slip = SLIPPAGE_MODELS["fixed_bps"].kernel_args(10.0)
    _, _, tr = run_account(_bars(1e9), [(0, 100.0, 5.0, False, True)], slippage=slip)
    assert tr[3].tolist() == [100.0]  # the maker entry pays none; the final close does
    assert tr[4].tolist() == [pytest.approx(110 * 0.999)]


def test_volume_share_impact_grows_with_the_square_of_the_share() -> None:
    slip = SLIPPAGE_MODELS["volume_share"].kernel_args(None)
    # 10 units of a bar of 100: share 0.1, s = 0.1 x 0.1^2 = 0.001.
    _, _, tr = run_account(_bars(100.0), [(0, 100.0, 1.0, True, False)], slippage=slip)
    assert tr[3].tolist() == [pytest.approx(100.1)]
    # 10 units of a bar of 5: the share is capped at 1, s = 0.1.
    _, _, thin = run_account(_bars(5.0), [(0, 100.0, 1.0, True, False)], slippage=slip)
    assert thin[3].tolist() == [pytest.approx(110.0)]


def test_none_is_the_default_and_leaves_prices_alone() -> None:
    assert parse_config(api_config()).slippage_model == "none"
    _, _, tr = run_account(_bars(1.0), [(0, 100.0, 1.0, True, False)])
    assert tr[3].tolist() == [100.0] and tr[4].tolist() == [110.0]


@pytest.mark.parametrize(("over", "field"), [
    ({"slippage_model": "fixed_bps"}, "slippage_bps"),
    ({"slippage_model": "none", "slippage_bps": "5"}, "slippage_bps"),
    ({"slippage_model": "volume_share", "slippage_bps": "5"}, "slippage_bps"),
    ({"slippage_model": "sqrt"}, "slippage_model"),
    ({"slippage_model": "fixed_bps", "slippage_bps": "1001"}, "slippage_bps"),
    ({"slippage_model": "fixed_bps", "slippage_bps": 5}, "slippage_bps"),
])
def test_bad_slippage_settings_are_refused(over: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config(api_config(**over))
    assert refused.value.field == field


def test_fixed_bps_is_decoded() -> None:
    config = parse_config(api_config(slippage_model="fixed_bps", slippage_bps="2.5"))
    assert (config.slippage_model, config.slippage_bps) == ("fixed_bps", 2.5)
