"""engine/stitch.py: walk-forward test runs compounded into one out-of-sample curve."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.metrics import bar_returns
from engine.stitch import Run, stitch

H = 3_600_000


def _run(start_h: int, equity: list[float], pnl: list[float] | None = None) -> Run:
    times = (np.arange(len(equity), dtype=np.int64) + start_h) * H
    trades = np.asarray(pnl or [], dtype=np.float64)
    entry = np.full(trades.shape[0], start_h * H, dtype=np.int64)
    return Run(times, np.asarray(equity, dtype=np.float64), trades, entry, entry + H)


def test_runs_that_meet_compound_and_share_their_boundary_point() -> None:
    out = stitch([_run(0, [100, 110, 121], [21]), _run(2, [100, 90, 99], [-1])])
    assert out.times_ms.tolist() == [0, H, 2 * H, 3 * H, 4 * H]
    assert out.equity.tolist() == pytest.approx([100, 110, 121, 108.9, 119.79])
    assert out.scales == pytest.approx((1.0, 1.21))
    assert out.pnl.tolist() == pytest.approx([21, -1.21])
    assert out.metrics()["total_trades"] == 2


def test_a_gap_between_runs_is_flat() -> None:
    out = stitch([_run(0, [100, 120]), _run(5, [100, 50])])
    assert out.times_ms.tolist() == [0, H, 5 * H, 6 * H]
    assert out.equity.tolist() == pytest.approx([100, 120, 120, 60])


def test_overlapping_runs_are_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        stitch([_run(0, [100, 110, 120]), _run(1, [100, 90])])


def test_no_runs_is_an_empty_curve() -> None:
    out = stitch([])
    assert out.equity.shape == (0,) and out.scales == ()


@given(st.lists(st.lists(st.floats(0.5, 2.0), min_size=1, max_size=20), min_size=1,
                max_size=6))
def test_the_stitched_returns_are_the_runs_returns(factors: list[list[float]]) -> None:
    runs, at = [], 0
    for steps in factors:
        equity = 1000.0 * np.cumprod([1.0, *steps])
        runs.append(_run(at, equity.tolist()))
        at += len(steps)  # the next run starts on this one's last bar
    joined = np.concatenate([bar_returns(r.equity) for r in runs])
    assert bar_returns(stitch(runs).equity) == pytest.approx(joined, rel=1e-9)
