"""`pipai sweep`: the pure parsing and table building, on sample API objects (no server)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.table import Table
from typer.testing import CliRunner

from api.sweeps_service import checked_sweep
from cli.main import app
from cli.sweeps import (
    best_table,
    counts_line,
    format_value,
    leaderboard_rows,
    leaderboard_table,
    parse_request,
    sweeps_table,
    varied_paths,
    walk_forward_table,
    watch_view,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
METRICS = {"sharpe": "1.42", "sortino": "2.01", "calmar": "0.95", "max_drawdown": "-0.21",
           "win_rate": "0.48", "profit_factor": "1.31", "cagr": "0.34",
           "expected_value": "12.5", "total_trades": 87, "avg_trade_duration_seconds": 5400}
GRID = json.loads((EXAMPLES / "sweep_grid.json").read_text())


def _row(rank: int) -> dict[str, Any]:
    return {"rank": rank, "job_id": f"bt_3c91ef0a12b4c5d6_{rank:06d}",
            "values": {"params.fast": 5 * rank, "params.slow": 200},
            "objective": f"{2 - rank / 10:.2f}", "metrics": METRICS}


def _sweep(**changes: Any) -> dict[str, Any]:
    sweep = {"id": "sw_3c91ef0a12b4c5d6", "status": "running", "config": GRID,
             "counts": {"total": 80, "queued": 50, "running": 4, "done": 24, "failed": 1,
                        "cancelled": 1},
             "progress": 0.325, "stopped_early": False,
             "best": {"job_id": "bt_3c91ef0a12b4c5d6_000012",
                      "values": {"params.fast": 15, "params.slow": 100},
                      "objective": "1.42", "metrics": METRICS},
             "submitted_at": "2025-03-01T10:15:00Z", "started_at": "2025-03-01T10:15:01Z",
             "finished_at": None}
    return {**sweep, **changes}


def _text(renderable: Any) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def _cells(table: Table) -> list[list[str]]:
    columns = [[str(cell) for cell in column.cells] for column in table.columns]
    return [list(row) for row in zip(*columns, strict=True)]


def test_the_examples_parse_and_name_their_varied_paths_in_order() -> None:
    grid = parse_request((EXAMPLES / "sweep_grid.json").read_text())
    random = parse_request((EXAMPLES / "sweep_random.json").read_text())
    assert varied_paths(grid) == ["params.fast", "params.slow"]
    assert len(grid["grid"]["params.fast"]) * len(grid["grid"]["params.slow"]) == 80
    assert varied_paths(random) == ["params.grid_levels", "timeframe"]
    assert random["random"]["n"] == 50 and random["random"]["seed"] == 7


@pytest.mark.parametrize("name", ["sweep_grid.json", "sweep_random.json",
                                  "sweep_walk_forward.json"])
def test_every_example_passes_the_servers_checks(name: str) -> None:
    spec = checked_sweep(parse_request((EXAMPLES / name).read_text()))
    if name == "sweep_walk_forward.json":
        assert spec.walk_forward is not None and len(spec.walk_forward.windows) == 18
        assert spec.total == 18 * 16 + 18


@pytest.mark.parametrize(("text", "says"), [
    ("{not json", "not JSON"),
    ("[1, 2]", "JSON object"),
    ('{"base": {}}', "one of `grid` or `random`"),
    ('{"grid": {"leverage": [1, 2]}}', "needs `base`"),
])
def test_a_bad_request_file_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_request(text)


def test_the_counts_line_shows_status_progress_and_every_count() -> None:
    assert counts_line(_sweep()) == ("sw_3c91ef0a12b4c5d6 running: 26/80 finished (32%); "
                                     "queued 50, running 4, done 24, failed 1, cancelled 1")
    assert counts_line(_sweep(stopped_early=True)).endswith("(stopped early)")


def test_the_live_table_keeps_the_top_ten_with_values_objective_and_three_metrics() -> None:
    page = {"sweep_id": "sw_3c91ef0a12b4c5d6",
            "objective": {"metric": "sharpe", "goal": "maximize"},
            "data": [_row(rank) for rank in range(1, 13)], "next_cursor": "c2"}
    rows = leaderboard_rows(page, ["params.fast", "params.slow"])
    assert len(rows) == 10
    assert rows[0] == ["1", "bt_3c91ef0a12b4c5d6_000001", "5", "200", "1.90", "1.42", "-0.21",
                       "87"]
    table = leaderboard_table(page, ["params.fast", "params.slow"])
    assert [str(c.header) for c in table.columns] == [
        "rank", "job id", "fast", "slow", "sharpe (max)", "sharpe", "max_drawdown",
        "total_trades"]
    assert _cells(table) == rows


def test_an_empty_leaderboard_says_why() -> None:
    page = {"objective": {"metric": "calmar", "goal": "maximize"}, "data": []}
    table = leaderboard_table(page, ["params.grid_levels", "timeframe"])
    assert table.row_count == 0
    assert "no done child within the constraints yet" in _text(table)


def test_the_watch_view_shows_counts_bar_and_leaderboard() -> None:
    page = {"objective": {"metric": "sharpe", "goal": "maximize"}, "data": [_row(1)]}
    text = _text(watch_view(_sweep(), page))
    assert "26/80 finished" in text
    assert "bt_3c91ef0a12b4c5d6_000001" in text and "sharpe (max)" in text


def test_the_best_table_has_values_objective_and_the_ten_metrics() -> None:
    table = best_table(_sweep())
    assert table is not None
    cells = _cells(table)
    assert cells[:3] == [["params.fast", "15"], ["params.slow", "100"],
                         ["objective: sharpe (maximize)", "1.42"]]
    assert [name for name, _ in cells[3:]] == list(METRICS)
    assert best_table(_sweep(best=None)) is None


def test_values_format_as_cells() -> None:
    assert [format_value(v) for v in (None, "4h", 7, ["BTCUSDT", "ETHUSDT"], 0.5)] == [
        "", "4h", "7", "BTCUSDT,ETHUSDT", "0.5"]


def test_the_sweeps_table_has_one_row_per_sweep() -> None:
    table = sweeps_table([_sweep(), _sweep(id="sw_0000000000000001", best=None)])
    assert _cells(table)[0] == ["sw_3c91ef0a12b4c5d6", "running", "tpl_sma_cross", "80",
                                "32%", "1.42", "2025-03-01T10:15:00Z"]
    assert _cells(table)[1][5] == ""


def _window(w: int, status: str, chosen: bool) -> dict[str, Any]:
    return {"window": w, "status": status,
            "train": {"start": "2024-01-01T00:00:00Z", "end": "2024-06-29T00:00:00Z"},
            "test": {"start": "2024-06-29T00:00:00Z", "end": "2024-07-29T00:00:00Z"},
            "training": {"total": 6, "finished": 6 if chosen else 2},
            "chosen": {"job_id": "bt_x_000001", "values": {"params.fast": 10,
                                                           "params.slow": 50},
                       "objective": "1.42"} if chosen else None,
            "in_sample": METRICS if chosen else None, "test_job_id": None,
            "out_of_sample": {**METRICS, "sharpe": "-0.3"} if status == "done" else None,
            "scale": "1.0" if status == "done" else None}


def test_the_walk_forward_table_has_a_row_per_window_and_the_stitched_curve() -> None:
    report = {"objective": {"metric": "sharpe", "goal": "maximize"},
              "windows": [_window(0, "done", True), _window(1, "training", False)],
              "out_of_sample": {"windows": [0], "metrics": METRICS, "equity_curve": [
                  {"time": "2024-06-29T00:00:00Z", "equity": "10000.00"},
                  {"time": "2024-06-29T01:00:00Z", "equity": "10100.00"}]}}
    table = walk_forward_table(report)
    assert [c.header for c in table.columns][-2:] == ["in-sample sharpe",
                                                      "out-of-sample sharpe"]
    assert _cells(table) == [
        ["0", "2024-01-01..2024-06-29", "2024-06-29..2024-07-29", "done", "10", "50",
         "1.42", "-0.3"],
        ["1", "2024-01-01..2024-06-29", "2024-06-29..2024-07-29", "training", "", "", "",
         ""]]
    assert "1 windows stitched" in str(table.caption) and "trades 87" in str(table.caption)
    report["out_of_sample"] = {"windows": [], "metrics": None, "equity_curve": []}
    assert walk_forward_table(report).caption == "no window tested yet"


def test_submit_refuses_a_bad_file_before_any_request(tmp_path: Path) -> None:
    bad = tmp_path / "sweep.json"
    bad.write_text('{"base": {}}')
    result = CliRunner().invoke(app, ["sweep", "submit", str(bad)])
    assert result.exit_code == 1
    assert "grid" in result.output
