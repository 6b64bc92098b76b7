"""tpl_grid on hand-made bars whose fills can be checked by hand."""

from __future__ import annotations

import pytest

from engine import BacktestConfig, simulate
from tests.engine.helpers import MIN, T0, make_bars


def _grid_config(fee_bps: float = 10.0, leverage: int = 1) -> BacktestConfig:
    return BacktestConfig(
        template_id="tpl_grid",
        params={"grid_levels": 5, "upper_price": 110.0, "lower_price": 90.0},
        symbols=("TEST",),
        timeframe="1m",
        start_ms=T0,
        end_ms=T0 + 10 * MIN,
        capital=1000.0,
        leverage=leverage,
        fee_model="fixed_bps",
        fee_bps=fee_bps,
    )


def test_grid_fills_by_hand() -> None:
    # Levels 90 95 100 105 110; cells 0..3 each get 250 quote of notional.
    bars = make_bars(
        [
            (100.0, 101.0, 99.0, 100.5),  # open 100: cells 2,3 bought at market; nothing else
            (
                100.5,
                106.0,
                100.0,
                105.5,
            ),  # up bar: low 100 (no buy: cell 2 holds), high 106 sells cell 2 @105
            (
                105.5,
                106.0,
                94.0,
                96.0,
            ),  # down bar: high first, then low 94 buys cell 2 @100, cell 1 @95
        ]
    )
    r = simulate(_grid_config(), {"TEST": bars})
    q2, q3, q1 = 250 / 100, 250 / 105, 250 / 95
    fee = 10e-4
    got = [
        (t.entry_time_ms, t.exit_time_ms, t.entry_price, t.exit_price, t.quantity) for t in r.trades
    ]
    end = T0 + 3 * MIN  # final close at the last bar's close time
    assert got == [
        (T0, T0 + MIN, 100.0, 105.0, pytest.approx(q2)),  # cell 2 round trip
        # the final close at the last close walks the cells in order: 1, 2, 3
        (T0 + 2 * MIN, end, 95.0, 96.0, pytest.approx(q1)),  # cell 1 bought at 95
        (T0 + 2 * MIN, end, 100.0, 96.0, pytest.approx(q2)),  # cell 2 re-bought at 100
        (T0, end, 100.0, 96.0, pytest.approx(q3)),  # cell 3 from the start
    ]
    first = r.trades[0]
    assert first.fees == pytest.approx(q2 * 100 * fee + q2 * 105 * fee)  # taker entry + maker exit
    assert first.pnl == pytest.approx(q2 * 5 - first.fees)
    assert all(t.side == "long" for t in r.trades)
    # Accounting identity: closed-trade pnl explains the equity change exactly.
    assert r.equity[-1] == pytest.approx(1000.0 + sum(t.pnl for t in r.trades), abs=1e-9)
    assert r.equity.shape == (4,) and r.equity[0] == 1000.0
    assert list(r.equity_time_ms) == [T0, T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN]


def test_grid_round_trip_inside_one_bar() -> None:
    # Up bar path open -> low -> high: buy cell 1 at 95 going down, sell it at 100 going up.
    bars = make_bars([(97.0, 97.5, 96.5, 97.0), (97.0, 101.0, 94.0, 99.0)])
    r = simulate(_grid_config(fee_bps=0.0), {"TEST": bars})
    inside = [t for t in r.trades if t.entry_price == 95.0 and t.exit_price == 100.0]
    assert len(inside) == 1 and inside[0].entry_time_ms == inside[0].exit_time_ms == T0 + MIN
    assert inside[0].pnl == pytest.approx(250 / 95 * 5)


def test_grid_price_outside_range_never_fills_limits() -> None:
    bars = make_bars(
        [(200.0, 201.0, 199.0, 200.0)] * 5
    )  # far above the grid: nothing to buy or sell
    r = simulate(_grid_config(), {"TEST": bars})
    assert r.trades == [] and r.equity[-1] == 1000.0
    assert r.metrics["total_trades"] == 0 and r.metrics["win_rate"] is None
