"""Funding on perpetuals (engine/marketdata/funding.py, the kernel's step 0): hand-computed
payments, the synthetic series, Binance's funding-rate files, spot runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine import MarketDataStore, parse_config, run_backtest
from engine.contract import ConfigError
from engine.marketdata import funding as f
from engine.results import result_document
from tests.engine.helpers import MIN, T0, api_config, make_bars
from tests.engine.test_engine_account import run_account

BARS = make_bars([(100, 100, 100, 100), (110, 110, 110, 110), (120, 120, 120, 120)])


def _rates(*pairs: tuple[int, float]) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([t for t, _ in pairs], dtype=np.int64),
            np.array([r for _, r in pairs], dtype=np.float64))


def test_a_long_pays_a_positive_rate_at_the_funding_time() -> None:
    # 2x long: 20 units at 100; funding at bar 1's open (110) at 0.1 %: 20 x 110 x 0.001 = 2.2.
    _, equity, tr = run_account(BARS, [(0, 100.0, 1.0, True, False)], leverage=2.0,
                                funding=_rates((T0 + MIN, 0.001)))
    assert tr[8].tolist() == [pytest.approx(2.2)]  # the trade's funding
    assert tr[7].tolist() == [pytest.approx(20 * (120 - 100) - 2.2)]  # pnl net of it
    assert equity[-1] == pytest.approx(1000 + 400 - 2.2)
    assert equity[2] == pytest.approx(1000 + 20 * 10 - 2.2)  # paid in the bar it falls in


def test_a_short_receives_it_and_a_time_before_the_position_costs_nothing() -> None:
    _, _, tr = run_account(BARS, [(0, 100.0, -1.0, True, False)],
                           funding=_rates((T0 - MIN, 0.01), (T0 + 2 * MIN, 0.001)))
    assert tr[8].tolist() == [pytest.approx(-10 * 120 * 0.001)]  # received
    assert tr[7].tolist() == [pytest.approx(10 * (100 - 120) + 1.2)]


def test_funding_is_pro_rated_over_a_partial_close() -> None:
    fills = [(0, 100.0, 10.0, False, True), (2, 120.0, -4.0, False, True)]
    _, _, tr = run_account(BARS, fills, funding=_rates((T0 + MIN, 0.001)))
    paid = 10 * 110 * 0.001
    assert tr[8].tolist() == [pytest.approx(paid * 0.4), pytest.approx(paid * 0.6)]
    assert sum(tr[7]) == pytest.approx(10 * 20 - paid)


def test_the_synthetic_series_is_seeded_and_plausible() -> None:
    times, rates = f.synthetic_funding("BTCUSDT")
    again = f.synthetic_funding("BTCUSDT")
    assert np.array_equal(rates, again[1]) and np.array_equal(times, again[0])
    assert (np.diff(times) == f.INTERVAL_MS).all()
    assert abs(float(rates.mean()) - f.BASE_RATE) < 2e-5 and np.abs(rates).max() <= 0.003
    assert not np.array_equal(rates, f.synthetic_funding("ETHUSDT")[1])


def test_a_binance_funding_file_is_imported_and_used(tmp_path: Path) -> None:
    csv = tmp_path / "BTCUSDT-fundingRate-2025-01.csv"
    csv.write_text("calc_time,funding_interval_hours,last_funding_rate\n"
                   f"{T0 + 8 * 3_600_000},8,0.00020000\n{T0},8,-0.00010000\n")
    assert f.is_binance_funding_csv(csv)
    assert f.import_binance_funding(tmp_path, "BTCUSDT", csv) == 2
    times, rates, source = f.funding_series(tmp_path, "BTCUSDT", True, T0, T0 + 86_400_000)
    assert source == "import" and times.tolist() == [T0, T0 + 8 * 3_600_000]
    assert rates.tolist() == [-0.0001, 0.0002]
    assert f.funding_series(tmp_path, "XYZUSDT", False, 0, 2**62)[2] == "none"


def test_a_perpetual_run_pays_funding_and_a_spot_run_none(tmp_path: Path) -> None:
    store = MarketDataStore(tmp_path)
    base = api_config(template_id="tpl_sma_cross", params={"fast": 5, "slow": 20},
                      start="2025-01-01T00:00:00Z", end="2025-03-01T00:00:00Z")
    perp = run_backtest(parse_config({**base, "leverage": 3}), store, lambda _: None)
    assert perp.funding_source == "synthetic" and perp.funding_total != 0.0
    assert perp.funding_total == pytest.approx(sum(t.funding for t in perp.trades))
    assert result_document(perp)["funding"]["source"] == "synthetic"
    spot = run_backtest(parse_config({**base, "leverage": 1, "instrument": "spot"}), store,
                        lambda _: None)
    assert spot.funding_total == 0.0 and spot.funding_source == "none"
    assert all(t.funding == 0.0 for t in spot.trades)


def test_spot_takes_leverage_1_only() -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config(api_config(instrument="spot", leverage=2))
    assert refused.value.field == "leverage"
    with pytest.raises(ConfigError) as unknown:
        parse_config(api_config(instrument="option"))
    assert unknown.value.field == "instrument"
