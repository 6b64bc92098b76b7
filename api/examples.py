"""The seed pages' examples (shared/seeds), word for word, for OpenAPI and contract tests."""

from __future__ import annotations

from typing import Any

GRID_CONFIG: dict[str, Any] = {
    "template_id": "tpl_grid",
    "params": {"grid_levels": 8, "upper_price": "72000", "lower_price": "60000"},
    "symbols": ["BTCUSDT"],
    "timeframe": "1h",
    "start": "2025-01-01T00:00:00Z",
    "end": "2025-12-31T23:59:59Z",
    "capital": "10000.00",
    "leverage": 1,
    "fee_model": "fixed_bps",
    "fee_bps": "5",
}

BREAKOUT_CONFIG: dict[str, Any] = {
    "template_id": "tpl_breakout",
    "params": {"lookback": 24},
    "symbols": ["ETHUSDT"],
    "timeframe": "15m",
    "start": "2025-06-01T00:00:00Z",
    "end": "2025-09-30T23:59:59Z",
    "capital": "5000.00",
    "leverage": 2,
    "fee_model": "tiered_maker_taker",
}

DONE_JOB: dict[str, Any] = {
    "id": "bt_3c91ef",
    "status": "done",
    "config": GRID_CONFIG,
    "submitted_at": "2026-04-29T10:15:00Z",
    "started_at": "2026-04-29T10:15:08Z",
    "finished_at": "2026-04-29T10:17:42Z",
    "progress": 1.0,
    "result": {
        "metrics": {
            "sharpe": "1.84",
            "sortino": "2.31",
            "calmar": "1.12",
            "max_drawdown": "-0.142",
            "win_rate": "0.638",
            "profit_factor": "1.92",
            "cagr": "0.187",
            "expected_value": "12.43",
            "total_trades": 247,
            "avg_trade_duration_seconds": 14820,
        }
    },
    "error": None,
}

RUNNING_JOB: dict[str, Any] = {
    "id": "bt_88a210",
    "status": "running",
    "config": BREAKOUT_CONFIG,
    "submitted_at": "2026-04-29T10:18:11Z",
    "started_at": "2026-04-29T10:18:12Z",
    "finished_at": None,
    "progress": 0.62,
    "result": None,
    "error": None,
}

CANCELLED_JOB: dict[str, Any] = {
    "id": "bt_3c91ef",
    "status": "cancelled",
    "config": GRID_CONFIG,
    "submitted_at": "2026-04-29T10:15:00Z",
    "started_at": "2026-04-29T10:15:08Z",
    "finished_at": "2026-04-29T10:16:02Z",
    "progress": 0.34,
    "result": None,
    "error": None,
}

# Create Job's answer for the grid config: accepted, not yet started.
GRID_JOB_QUEUED: dict[str, Any] = {
    **DONE_JOB, "status": "queued", "started_at": None, "finished_at": None,
    "progress": 0.0, "result": None,
}

JOB_LIST: dict[str, Any] = {
    "data": [DONE_JOB, RUNNING_JOB],
    "next_cursor": "eyJzdWJtaXR0ZWRfYXQiOiIyMDI2LTA0LTI4VDExOjAwOjAwWiJ9",
}

CANCEL_REQUEST: dict[str, Any] = {"reason": "superseded by tpl_grid_v2 sweep"}


def error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


# A command on the event log that the orchestrator has not decided yet (202).
PENDING: dict[str, Any] = {"id": "bt_3c91ef", "status": "pending"}
