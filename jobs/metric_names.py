"""The ten metrics' names, declared once (docs/engine.md, "Metrics"). The `Metrics` record,
the engine's result document and the API's model each keep their own typed copy, and
tests hold every copy equal to these names (tests/jobs/test_events.py,
tests/engine/test_engine_results.py, tests/api/test_models.py: the Metrics model and
the sweeps' MetricName)."""

from __future__ import annotations

from typing import Final

# Decimal strings at the API edge (None when undefined, e.g. no trades).
DECIMAL_METRICS: Final[tuple[str, ...]] = (
    "sharpe", "sortino", "calmar", "max_drawdown", "win_rate",
    "profit_factor", "cagr", "expected_value",
)
# Integers.
INT_METRICS: Final[tuple[str, ...]] = ("total_trades", "avg_trade_duration_seconds")
METRIC_NAMES: Final[tuple[str, ...]] = DECIMAL_METRICS + INT_METRICS
