"""The worker's engine-facing side without a broker: progress policy, cancellation,
start-up costs (compiled signatures, synthetic data generated once)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from engine import BacktestCancelled, MarketDataStore, parse_config, run_backtest, warm_up
from engine.kernels import account, breakout, grid, rsi_reversion, sma_cross
from engine.marketdata.bars import Bars
from jobs.messages import RunBacktest, RunProgressed
from tests.engine.helpers import api_config
from workers.engine_worker import _Run, _ShuttingDown


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_700_000_000.0 + self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeWorker:
    """What _Run uses of EngineWorker, recording instead of producing."""

    pace: float = 0.0
    sent: list[Any] = field(default_factory=list)
    cancelled: set[str] = field(default_factory=set)
    stopping: bool = False
    polls: int = 0

    def __post_init__(self) -> None:
        self.settings = SimpleNamespace(engine_min_job_seconds=self.pace)
        self.topics = SimpleNamespace(reports="reports")

    def send(self, topic: str, key: str, message: Any) -> None:
        self.sent.append(message)

    def keep_alive(self) -> None:
        self.polls += 1

    def is_cancelled(self, job_id: str) -> bool:
        return job_id in self.cancelled


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr("workers.engine_worker.time", fake)
    return fake


def item() -> RunBacktest:
    return RunBacktest(job_id="bt_1", attempt=1, config_json="{}", issued_at=0, correlation_id="c")


def progressed(worker: FakeWorker) -> list[float]:
    return [m.progress for m in worker.sent if isinstance(m, RunProgressed)]


def test_progress_every_5_percent_on_a_job_of_seconds(clock: FakeClock) -> None:
    worker = FakeWorker()
    run = _Run(worker, item())  # type: ignore[arg-type]
    for k in range(101):
        clock.now += 0.1  # 10 s
        run.on_progress(k / 100)
    assert progressed(worker) == pytest.approx([k / 100 for k in range(5, 100, 5)])
    assert worker.polls == 101  # every callback serves Kafka and hears cancels


def test_progress_at_most_4_a_second_on_a_fast_job(clock: FakeClock) -> None:
    worker = FakeWorker()
    run = _Run(worker, item())  # type: ignore[arg-type]
    for k in range(101):
        clock.now += 0.01  # 1 s
        run.on_progress(k / 100)
    reports = progressed(worker)
    assert len(reports) == 3  # about 0.25, 0.5, 0.75
    assert all(b - a >= 0.25 - 0.011 for a, b in zip([0.0, *reports], reports, strict=False))


def test_no_progress_from_a_job_of_milliseconds(clock: FakeClock) -> None:
    worker = FakeWorker()
    run = _Run(worker, item())  # type: ignore[arg-type]
    for k in range(101):
        clock.now += 0.0002  # 20 ms
        run.on_progress(k / 100)
    assert progressed(worker) == []  # RunStarted and RunCompleted tell it all


def test_progress_every_second_on_a_slow_job(clock: FakeClock) -> None:
    worker = FakeWorker()
    run = _Run(worker, item())  # type: ignore[arg-type]
    for k in range(1, 31):
        clock.now += 0.25
        run.on_progress(k / 1000)  # 0.1 % per step, 4 steps a second
    assert progressed(worker) == [k / 1000 for k in range(4, 29, 4)]  # one a second (7.5 s)


def test_no_report_at_start_or_at_the_end(clock: FakeClock) -> None:
    worker = FakeWorker()
    run = _Run(worker, item())  # type: ignore[arg-type]
    run.on_progress(0.0)
    clock.now += 5
    run.on_progress(1.0)
    assert progressed(worker) == []  # RunStarted and RunCompleted say those


def test_cancel_and_shutdown_stop_the_run(clock: FakeClock) -> None:
    worker = FakeWorker()
    run = _Run(worker, item())  # type: ignore[arg-type]
    run.on_progress(0.1)
    worker.cancelled.add("bt_1")
    with pytest.raises(BacktestCancelled):
        run.on_progress(0.2)
    worker.cancelled.clear()
    worker.stopping = True
    with pytest.raises(_ShuttingDown):
        run.on_progress(0.3)


def test_paced_run_hears_a_cancel_within_50ms(clock: FakeClock) -> None:
    worker = FakeWorker(pace=60.0)
    run = _Run(worker, item())  # type: ignore[arg-type]
    original = worker.keep_alive

    def cancel_after_3s() -> None:
        original()
        if clock.now - 1000.0 >= 3.0:
            worker.cancelled.add("bt_1")

    worker.keep_alive = cancel_after_3s  # type: ignore[method-assign]
    with pytest.raises(BacktestCancelled):
        run.on_progress(0.5)  # paced: would wait 30 s
    assert clock.now - 1000.0 == pytest.approx(3.0, abs=0.051)
    assert len(progressed(worker)) == 3  # still one report a second while waiting


def test_progress_callbacks_come_often_on_a_large_job(store: MarketDataStore) -> None:
    """The callback is where cancels are heard: on a year of 1m bars on two symbols
    the engine must call it at least 25 times and never go 0.5 s without it."""
    import time

    warm_up()
    config = parse_config(api_config(
        template_id="tpl_sma_cross", params={"fast": 20, "slow": 50},
        symbols=["BTCUSDT", "ETHUSDT"], timeframe="1m",
        start="2025-01-01T00:00:00Z", end="2026-01-01T00:00:00Z",
    ))
    for symbol in config.symbols:
        store.ensure(symbol)
    calls: list[float] = []
    run_backtest(config, store, lambda _: calls.append(time.perf_counter()))
    assert len(calls) >= 25
    assert max(np.diff(calls)) < 0.5


def test_warm_up_compiles_the_signatures_real_jobs_use(store: MarketDataStore) -> None:
    kernels = (account.account_kernel, grid.grid_kernel, breakout.breakout_kernel,
               sma_cross.sma_cross_kernel, rsi_reversion.rsi_reversion_kernel)
    warm_up()
    before = [len(k.signatures) for k in kernels]
    params = {
        "tpl_grid": {"grid_levels": 10, "upper_price": "110000", "lower_price": "85000"},
        "tpl_breakout": {"lookback": 20},
        "tpl_sma_cross": {"fast": 20, "slow": 50},
        "tpl_rsi_reversion": {"period": 14, "oversold": 30, "overbought": 70},
    }
    for template_id, p in params.items():
        for fees in ({"fee_model": "fixed_bps", "fee_bps": "5"},
                     {"fee_model": "tiered_maker_taker"}):
            config = api_config(template_id=template_id, params=p, **fees)
            if "fee_bps" not in fees:
                config.pop("fee_bps", None)
            run_backtest(parse_config(config), store, lambda _: None)
    assert [len(k.signatures) for k in kernels] == before  # nothing compiled for real data


def test_bars_are_read_only() -> None:
    bars = Bars.from_arrays(np.arange(3), np.ones(3), np.ones(3), np.ones(3), np.ones(3),
                            np.ones(3))
    assert not any(a.flags.writeable for a in (bars.open_time_ms, bars.open, bars.close))
    with pytest.raises(ValueError):
        bars.close[0] = 2.0


def test_concurrent_generation_writes_a_symbol_once(tmp_path: Path) -> None:
    stores = [MarketDataStore(tmp_path), MarketDataStore(tmp_path)]
    results: list[bool] = []
    threads = [threading.Thread(target=lambda s=s: results.append(s.generate_if_missing("SOLUSDT")))
               for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, True]
    assert stores[0].path("SOLUSDT", "1m").is_file()
    assert not stores[0].generate_if_missing("SOLUSDT")
    assert not stores[0].generate_if_missing("NOTASYMBOL")
    assert not MarketDataStore(tmp_path / "x", synthetic=False).generate_if_missing("BTCUSDT")


def test_writing_the_result_pages_reports_progress_per_page() -> None:
    """The pages of a large result take over a second to write: each one goes through the
    progress callback (reports, cancels), from ENGINE_SHARE up to 1."""
    from engine.contract import BacktestResult
    from engine.results import POINTS_PER_PART, page_count
    from workers.engine_worker import ENGINE_SHARE, _rendered

    n = 3 * POINTS_PER_PART + 1
    result = BacktestResult(metrics={}, equity_time_ms=np.arange(n, dtype=np.int64) * 60_000,
                            equity=np.full(n, 10_000.0), trades=[])
    seen: list[float] = []
    rendered = _rendered(result, seen.append)
    assert len(rendered.parts) == page_count(result) == 5  # 1 (empty) trades + 4 equity
    assert len(seen) == 5 and seen == sorted(seen)
    assert seen[0] > ENGINE_SHARE and seen[-1] == pytest.approx(1.0)


def test_a_sweeps_cancel_stops_its_children_and_no_other_job() -> None:
    from workers.engine_worker import is_cancelled

    heard = {"bt_plain", "sw_3c91ef0a12b4c5d6"}
    assert is_cancelled(heard, "bt_plain")
    assert is_cancelled(heard, "bt_3c91ef0a12b4c5d6_000042")
    assert not is_cancelled(heard, "bt_00000000000000aa_000042")
    assert not is_cancelled(heard, "bt_other")
