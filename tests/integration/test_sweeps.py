"""Sweeps end to end: one request, its children ordinary jobs on the real log, a live
leaderboard, cancel and early stopping (docs/api.md, "Sweeps")."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.metrics import compute_metrics
from engine.results import format_metrics
from engine.timeframes import DAY_MS
from jobs.audit import verify
from jobs.messages import (
    Event,
    JobCancelled,
    JobFailed,
    JobSucceeded,
    SweepChildFinished,
    from_record,
)
from jobs.sweep_space import parse_sweep, sort_key
from jobs.sweep_state import sweep_of
from pipai.kafka.reader import read_topic
from pipai.processes import kill
from pipai.schema_log import kafka_codec
from pipai.settings import Settings
from pipai.topics import Topics
from tests.integration.conftest import LiveStack, start_stack

pytestmark = pytest.mark.integration

BASE: dict[str, Any] = {
    "template_id": "tpl_sma_cross", "params": {"fast": 10, "slow": 50},
    "symbols": ["BTCUSDT"], "timeframe": "1h", "start": "2025-01-01T00:00:00Z",
    "end": "2025-02-01T00:00:00Z", "capital": "10000.00", "leverage": 1,
    "fee_model": "fixed_bps", "fee_bps": "5",
}


@pytest.fixture(scope="module")
def sweeps(kafka_bootstrap: str, market_dir: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    # The tests read every child of large sweeps and poll them: not a test of weights.
    yield from start_stack(tmp_path_factory.mktemp("sweeps"), kafka_bootstrap, market_dir,
                           api_weight_per_minute=1_000_000)


def _grid(fast: list[int], slow: list[int], **extra: Any) -> dict[str, Any]:
    return {"base": BASE, "grid": {"params.fast": fast, "params.slow": slow},
            "objective": {"metric": "sharpe", "goal": "maximize"}, **extra}


def _wait_sweep(live: LiveStack, sweep_id: str, predicate: Any,
                timeout_s: float = 180.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    sweep: dict[str, Any] = {}
    while time.monotonic() < deadline:
        sweep = live.client.get(f"/v1/backtest/sweeps/{sweep_id}").json()
        if predicate(sweep):
            return sweep
        time.sleep(0.2)  # poll interval; the deadline bounds the wait
    raise AssertionError(f"sweep not there within {timeout_s}s: {sweep}")


def _pages(live: LiveStack, path: str, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = live.client.get(path, params={"limit": 100, **params,
                                             **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        rows += page.json()["data"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return rows


def test_a_500_child_grid_ends_done_with_the_leaderboard_of_its_children(
        sweeps: LiveStack) -> None:
    request = _grid(list(range(2, 22)), list(range(30, 55)),
                    constraints=[{"metric": "max_drawdown", "min": "-0.5"}])
    created = sweeps.client.post("/v1/backtest/sweeps", json=request)
    assert created.status_code == 201, created.text
    sweep = created.json()
    assert sweep["id"].startswith("sw_") and sweep["counts"]["total"] == 500
    assert sweep["config"] == request

    done = _wait_sweep(sweeps, sweep["id"], lambda s: s["status"] in ("done", "failed"))
    counts = done["counts"]
    assert done["status"] == "done" and counts["done"] + counts["failed"] == 500
    assert counts["queued"] == counts["running"] == counts["cancelled"] == 0
    assert done["progress"] == 1.0 and done["finished_at"] and not done["stopped_early"]

    children = _pages(sweeps, "/v1/backtest/jobs", sweep_id=sweep["id"])
    assert len(children) == 500 and {c["sweep_id"] for c in children} == {sweep["id"]}
    spec = parse_sweep(request)
    ranked = []
    for child in children:
        metrics = (child["result"] or {}).get("metrics")
        if child["status"] != "done" or metrics is None or metrics["sharpe"] is None:
            continue
        if metrics["max_drawdown"] is None or float(metrics["max_drawdown"]) < -0.5:
            continue
        ranked.append((sort_key(spec, float(metrics["sharpe"])), child["id"]))
    board = _pages(sweeps, f"/v1/backtest/sweeps/{sweep['id']}/leaderboard")
    assert len(board) == len(ranked) > 0
    assert [row["rank"] for row in board] == list(range(1, len(board) + 1))
    assert [sort_key(spec, float(r["objective"])) for r in board] == sorted(k for k, _ in ranked)
    by_id = {c["id"]: c for c in children}
    for row in board:
        assert row["metrics"] == by_id[row["job_id"]]["result"]["metrics"]
        assert row["values"] == {"params.fast": by_id[row["job_id"]]["config"]["params"]["fast"],
                                 "params.slow": by_id[row["job_id"]]["config"]["params"]["slow"]}
    best = done["best"]
    assert best["job_id"] == board[0]["job_id"] and best["metrics"] == board[0]["metrics"]
    assert best["values"] == board[0]["values"] and best["objective"] == board[0]["objective"]

    child = sweeps.client.get(f"/v1/backtest/jobs/{board[0]['job_id']}")
    assert child.status_code == 200 and child.json()["sweep_id"] == sweep["id"]
    listed = sweeps.client.get("/v1/backtest/sweeps", params={"status": "done"}).json()
    assert sweep["id"] in {s["id"] for s in listed["data"]}
    again = sweeps.client.post(f"/v1/backtest/sweeps/{sweep['id']}/cancel")
    assert again.status_code == 409 and again.json()["error"]["code"] == "INVALID_STATE"


def test_a_cancel_during_a_5000_child_sweep_leaves_no_child_queued_or_running(
        sweeps: LiveStack) -> None:
    created = sweeps.client.post("/v1/backtest/sweeps",
                                 json=_grid(list(range(1, 51)), list(range(100, 200))))
    assert created.status_code == 201, created.text
    sweep_id = created.json()["id"]
    _wait_sweep(sweeps, sweep_id, lambda s: s["counts"]["done"] >= 20)
    cancelled = sweeps.client.post(f"/v1/backtest/sweeps/{sweep_id}/cancel",
                                   json={"reason": "enough"})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    started = time.monotonic()
    for status in ("queued", "running"):
        deadline = time.monotonic() + 120
        while sweeps.client.get("/v1/backtest/jobs", params={
                "sweep_id": sweep_id, "status": status, "limit": 1}).json()["data"]:
            assert time.monotonic() < deadline, f"children still {status}"
            time.sleep(0.1)  # poll interval; the deadline bounds the wait
    print(f"\nno child queued or running {time.monotonic() - started:.2f}s after the cancel")
    final = _wait_sweep(sweeps, sweep_id, lambda s: s["progress"] == 1.0)
    counts = final["counts"]
    assert final["status"] == "cancelled" and counts["cancelled"] > 0
    assert counts["done"] + counts["failed"] + counts["cancelled"] == 5000


def test_early_stopping_cancels_the_rest_and_ends_done(sweeps: LiveStack) -> None:
    created = sweeps.client.post("/v1/backtest/sweeps", json=_grid(
        list(range(2, 42)), list(range(60, 80)), early_stop={"patience": 30}))
    assert created.status_code == 201, created.text
    final = _wait_sweep(sweeps, created.json()["id"], lambda s: s["finished_at"] is not None)
    counts = final["counts"]
    assert final["status"] == "done" and final["stopped_early"] is True
    assert counts["cancelled"] > 0 and counts["queued"] == counts["running"] == 0
    assert counts["done"] + counts["failed"] + counts["cancelled"] == 800
    assert final["best"] is not None


def test_a_bad_child_is_refused_before_anything_is_accepted(sweeps: LiveStack) -> None:
    refused = sweeps.client.post("/v1/backtest/sweeps", json=_grid([10, 60], [50]))
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "INVALID_PARAMETER" and "params.fast=60" in error["message"]
    shape = sweeps.client.post("/v1/backtest/sweeps", json={**_grid([1], [50]), "random": {
        "n": 3, "seed": 1, "space": {"params.fast": {"int": [1, 5]}}}})
    assert shape.status_code == 400


def _log_events(settings: Settings) -> list[Event]:
    codec = kafka_codec(settings, publish=False)
    topic = Topics.for_prefix(settings.topic_prefix).events
    return [from_record(*codec.decode(m.value())) for m in read_topic(settings, topic)]


def _wait_done_count(live: LiveStack, sweep_id: str, at_least: int) -> None:
    _wait_sweep(live, sweep_id, lambda s: s["counts"]["done"] + s["counts"]["failed"]
                >= at_least)


def test_sigkill_of_the_orchestrator_and_a_worker_mid_sweep(sweeps: LiveStack) -> None:
    """Every child ends in exactly one terminal state, the sweep hears each once, its
    counts add up and no child is run to a second done: checked on the log itself."""
    created = sweeps.client.post("/v1/backtest/sweeps",
                                 json=_grid(list(range(2, 42)), list(range(100, 150))))
    assert created.status_code == 201, created.text
    sweep_id = created.json()["id"]
    stack = sweeps.stack
    for name, after in (("orchestrator", 300), ("engine-0", 700), ("orchestrator", 1100)):
        _wait_done_count(sweeps, sweep_id, after)
        kill(stack.children[name])
        stack.start_process(name, "orchestrator" if name == "orchestrator" else "workers")
    final = _wait_sweep(sweeps, sweep_id, lambda s: s["finished_at"] is not None, 300)
    counts = final["counts"]
    assert final["status"] == "done"
    assert counts["done"] + counts["failed"] + counts["cancelled"] == 2000

    events = _log_events(sweeps.settings)
    children = [e for e in events if (sweep_of(e.job_id) or ("", 0))[0] == sweep_id]
    ends = Counter(e.job_id for e in children
                   if isinstance(e, JobSucceeded | JobFailed | JobCancelled))
    assert len(ends) == 2000 and set(ends.values()) == {1}, "a child ended twice or never"
    heard = Counter(e.index for e in events
                    if isinstance(e, SweepChildFinished) and e.job_id == sweep_id)
    assert sorted(heard) == list(range(2000)) and set(heard.values()) == {1}
    ids = {e.job_id for e in children} | {sweep_id}
    report = verify(e for e in events if e.job_id in ids)
    assert report.clean, report.findings[:5]
    assert report.states[sweep_id].finished_count == 2000


def _ms(instant: str) -> int:
    return int(np.datetime64(instant.rstrip("Z"), "ms").astype(np.int64))


def test_a_walk_forward_sweep_stitches_the_windows_it_chose(sweeps: LiveStack) -> None:
    """Two years of 1h bars, 180-day training and 30-day test windows: each window's test
    child runs the combination its training children ranked first, and the stitched
    out-of-sample curve's metrics are the engine's functions over the published points
    and the test runs' trades."""
    base = {**BASE, "start": "2024-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}
    request = {"base": base, "grid": {"params.fast": [5, 10, 20], "params.slow": [50, 100]},
               "objective": {"metric": "sharpe", "goal": "maximize"},
               "walk_forward": {"train": "180d", "test": "30d", "step": "30d"}}
    created = sweeps.client.post("/v1/backtest/sweeps", json=request)
    assert created.status_code == 201, created.text
    sweep_id = created.json()["id"]
    final = _wait_sweep(sweeps, sweep_id, lambda s: s["finished_at"] is not None, 300)
    windows_n, combos = 18, 6  # 731 days hold windows 0..17 (the last tests days 690..720)
    assert final["status"] == "done" and final["counts"]["total"] == windows_n * combos + 18
    assert sum(final["counts"][k] for k in ("done", "failed", "cancelled")) == \
        windows_n * combos + windows_n
    report = sweeps.client.get(f"/v1/backtest/sweeps/{sweep_id}/walk_forward")
    assert report.status_code == 200, report.text
    body = report.json()
    windows = body["windows"]
    assert len(windows) == windows_n
    children = {job["id"]: job for job in _pages(sweeps, "/v1/backtest/jobs",
                                                 sweep_id=sweep_id)}
    assert len(children) == windows_n * combos + windows_n
    runs = []
    for w, window in enumerate(windows):
        start = _ms(base["start"]) + w * 30 * DAY_MS
        assert _ms(window["train"]["start"]) == start
        assert _ms(window["test"]["start"]) == _ms(window["train"]["end"]) == start + 180 * DAY_MS
        assert _ms(window["test"]["end"]) == start + 210 * DAY_MS
        trained = [children[f"bt_{sweep_id[3:]}_{w * combos + c:06d}"] for c in range(combos)]
        assert all(job["config"]["start"] == window["train"]["start"] for job in trained)
        ranked = sorted((float(j["result"]["metrics"]["sharpe"]), -i)
                        for i, j in enumerate(trained)
                        if j["status"] == "done" and j["result"]["metrics"]["sharpe"])
        if not ranked:
            assert window["status"] == "skipped"
            continue
        chosen = trained[-ranked[-1][1]]
        assert window["chosen"]["job_id"] == chosen["id"]
        assert window["in_sample"] == chosen["result"]["metrics"]
        test = children[window["test_job_id"]]
        assert test["config"]["params"] == chosen["config"]["params"]
        assert (test["config"]["start"], test["config"]["end"]) == \
            (window["test"]["start"], window["test"]["end"])
        assert window["status"] == test["status"] == "done"
        assert window["out_of_sample"] == test["result"]["metrics"]
        curve = sweeps.client.get(f"/v1/backtest/jobs/{test['id']}/equity").json()["data"]
        trades = _pages(sweeps, f"/v1/backtest/jobs/{test['id']}/trades")
        runs.append((w, curve, trades, float(window["scale"])))
    oos = body["out_of_sample"]
    assert oos["windows"] == [w for w, *_ in runs] and len(runs) >= windows_n // 2
    # the curve: each run's points scaled by its window's scale, joined at the boundaries
    expected: list[tuple[int, float]] = []
    for _, curve, _, scale in runs:
        points = [(_ms(p["time"]), float(p["equity"]) * scale) for p in curve]
        expected += points[1:] if expected and points[0][0] <= expected[-1][0] else points
    published = [(_ms(p["time"]), float(p["equity"])) for p in oos["equity_curve"]]
    assert [t for t, _ in published] == [t for t, _ in expected]
    assert max(abs(a - b) for (_, a), (_, b) in zip(published, expected, strict=True)) < 0.02
    # the metrics: the engine's functions over the published points and the scaled trades
    all_trades = [(t, scale) for _, _, trades, scale in runs for t in trades]
    metrics = compute_metrics(
        np.asarray([e for _, e in published]), np.asarray([t for t, _ in published]),
        np.asarray([float(t["pnl"]) * s for t, s in all_trades]),
        np.asarray([_ms(t["entry_time"]) for t, _ in all_trades], dtype=np.int64),
        np.asarray([_ms(t["exit_time"]) for t, _ in all_trades], dtype=np.int64))
    assert oos["metrics"] == format_metrics(metrics)
    print(f"\nwalk-forward: {len(runs)} of {windows_n} windows stitched, "
          f"{len(published)} points, out-of-sample {oos['metrics']}")
    assert oos["metrics"]["total_trades"] == sum(
        w["out_of_sample"]["total_trades"] for w in windows if w["out_of_sample"])
    plain = sweeps.client.post("/v1/backtest/sweeps", json=_grid([5], [50]))
    assert plain.status_code == 201, plain.text
    refused = sweeps.client.get(f"/v1/backtest/sweeps/{plain.json()['id']}/walk_forward")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "INVALID_STATE"
