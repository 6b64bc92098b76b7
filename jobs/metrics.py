"""The `Metrics` record a succeeded run carries: the ten metrics of docs/engine.md, "Metrics",
as the API shows them. Its fields are the names of `jobs.metric_names`, in that order
(held by tests/jobs/test_events.py)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Metrics:
    """Decimal strings (None if undefined, e.g. no trades) and ints. Keyword-only, so the
    undefined decimals may default to None as in `schemas/types/Metrics.avsc`."""

    sharpe: str | None = None
    sortino: str | None = None
    calmar: str | None = None
    max_drawdown: str | None = None
    win_rate: str | None = None
    profit_factor: str | None = None
    cagr: str | None = None
    expected_value: str | None = None
    total_trades: int
    avg_trade_duration_seconds: int

    def as_dict(self) -> dict[str, Any]:
        # Flat fields: a plain dict of them, without dataclasses.asdict's deep copy.
        return {f.name: getattr(self, f.name) for f in _FIELDS}


_FIELDS = dataclasses.fields(Metrics)
