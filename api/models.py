"""Response models: the shapes of the seed pages, so OpenAPI is the truth.

The job statuses and the metric names are the domain's (jobs/statuses.py,
jobs/metric_names.py); tests/api/test_models.py fails if the two sides drift.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, model_serializer

from jobs.statuses import Status


class JobConfig(BaseModel):
    """The create body. No coercion at the edge (docs/api.md): `"5"`, `true` or `2.0` is not
    an integer; money and fees are decimal strings, never numbers; params are checked
    just as strictly against their template's schema (engine/config.py)."""

    model_config = ConfigDict(extra="forbid")

    template_id: str
    params: dict[str, Any]
    symbols: list[str]
    timeframe: str
    start: str
    end: str
    capital: str
    leverage: StrictInt
    fee_model: str
    fee_bps: str | None = None
    slippage_model: str | None = Field(None, description="none (default), fixed_bps or "
                                       "volume_share (docs/engine.md, \"Slippage\")")
    slippage_bps: str | None = Field(None, description="decimal string; required with "
                                     "slippage_model fixed_bps, forbidden otherwise")
    instrument: str | None = Field(None, description="perpetual (default: pays funding) or "
                                   "spot (leverage 1, no funding)")

    @model_serializer(mode="wrap")
    def _drop_absent_options(self, handler: Any) -> dict[str, Any]:
        """An option not given is absent from the config (as submitted), not null."""
        data: dict[str, Any] = handler(self)
        for name in _OPTIONS:
            if data.get(name) is None:
                data.pop(name, None)
        return data


_OPTIONS = ("fee_bps", "slippage_model", "slippage_bps", "instrument")

# A job's labels (docs/api.md, "Names, tags and notes"): kept beside the job object.
MAX_NAME = 200
MAX_TAGS = 20
MAX_NOTES = 10_000
TAG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
Tag = Annotated[str, StringConstraints(pattern=TAG_PATTERN)]


class JobCreate(JobConfig):
    """The create body: a job config, and optionally the job's first name and tags (not
    part of the config: they change later without touching it)."""

    name: str | None = Field(None, min_length=1, max_length=MAX_NAME)
    tags: list[Tag] | None = Field(None, max_length=MAX_TAGS, description=(
        "letters, digits and _ . : - (1-64 chars, starting with a letter or digit)"))


class JobLabelsPatch(BaseModel):
    """A field absent (or null) is kept; "" (or [] for tags) clears it."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=MAX_NAME)
    tags: list[Tag] | None = Field(None, max_length=MAX_TAGS)
    notes: str | None = Field(None, max_length=MAX_NOTES)


class JobLabels(BaseModel):
    id: str = Field(examples=["bt_3c91ef"])
    name: str | None
    tags: list[str]
    notes: str | None


class BulkCancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=200)


class BulkCancelled(BaseModel):
    matched: int = Field(description="non-terminal jobs the filters matched (at most 10,000 "
                         "a call)")
    cancelled: int = Field(description="of those, cancelled by this call")
    remaining: bool = Field(description="more jobs match: call again")


# jobs/metric_names.py: DECIMAL_METRICS as decimal strings, then INT_METRICS (no docstring:
# it would become the schema's description in OpenAPI).
class Metrics(BaseModel):
    sharpe: str | None
    sortino: str | None
    calmar: str | None
    max_drawdown: str | None
    win_rate: str | None
    profit_factor: str | None
    cagr: str | None
    expected_value: str | None
    total_trades: int
    avg_trade_duration_seconds: int


class JobResultSummary(BaseModel):
    metrics: Metrics


class ErrorDetail(BaseModel):
    code: str
    message: str


class Job(BaseModel):
    """A sweep's child also carries `sweep_id` (docs/api.md, "Sweeps"); a plain job's
    object is the seed pages' to the letter."""

    id: str = Field(examples=["bt_3c91ef"])
    status: Status
    config: JobConfig
    submitted_at: str = Field(examples=["2026-04-29T10:15:00Z"])
    started_at: str | None
    finished_at: str | None
    progress: float = Field(ge=0.0, le=1.0)
    result: JobResultSummary | None
    error: ErrorDetail | None


# ---- sweeps (docs/api.md, "Sweeps") ---------------------------------------------------

MetricName = Literal["sharpe", "sortino", "calmar", "max_drawdown", "win_rate",
                     "profit_factor", "cagr", "expected_value", "total_trades",
                     "avg_trade_duration_seconds"]


class SweepObjective(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: MetricName
    goal: Literal["maximize", "minimize"]


class SweepConstraint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: MetricName
    min: str | None = Field(None, pattern=r"^-?\d+(\.\d+)?$")
    max: str | None = Field(None, pattern=r"^-?\d+(\.\d+)?$")


class SweepRandom(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n: StrictInt = Field(ge=1, le=100_000)
    seed: StrictInt
    space: dict[str, dict[str, list[Any]]] = Field(description=(
        "config path -> {\"int\": [lo, hi]} | {\"uniform\": [lo, hi]} | {\"choice\": [...]}"))


class SweepEarlyStop(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patience: StrictInt = Field(ge=1)


class SweepWalkForward(BaseModel):
    model_config = ConfigDict(extra="forbid")

    train: str = Field(pattern=r"^[1-9][0-9]{0,5}[dh]$", examples=["180d"])
    test: str = Field(pattern=r"^[1-9][0-9]{0,5}[dh]$", examples=["30d"])
    step: str = Field(pattern=r"^[1-9][0-9]{0,5}[dh]$", examples=["30d"],
                      description="at least `test`: the test spans may not overlap")


class SweepCreate(BaseModel):
    """A sweep: one base config and the values to vary (exactly one of grid, random)."""

    model_config = ConfigDict(extra="forbid")

    base: JobConfig
    grid: dict[str, list[Any]] | None = Field(None, description=(
        "config path (params.grid_levels, leverage, fee_bps, symbols, ...) -> values; the "
        "sweep is their product, the last path varying fastest"))
    random: SweepRandom | None = None
    objective: SweepObjective
    constraints: list[SweepConstraint] | None = Field(None, max_length=20)
    early_stop: SweepEarlyStop | None = None
    walk_forward: SweepWalkForward | None = Field(None, description=(
        "train each combination on every window's training span, re-run each window's "
        "best on the test span after it (docs/api.md, \"Walk-forward\")"))


class SweepCounts(BaseModel):
    total: int
    queued: int
    running: int
    done: int
    failed: int
    cancelled: int


class SweepBest(BaseModel):
    job_id: str
    values: dict[str, Any]
    objective: str | int | None
    metrics: Metrics


class Sweep(BaseModel):
    id: str = Field(examples=["sw_3c91ef0a12b4c5d6"])
    status: Status
    config: dict[str, Any] = Field(description="the sweep as submitted")
    counts: SweepCounts
    progress: float = Field(ge=0.0, le=1.0, description="terminal children / total")
    best: SweepBest | None
    stopped_early: bool
    submitted_at: str
    started_at: str | None
    finished_at: str | None


class SweepList(BaseModel):
    data: list[Sweep]
    next_cursor: str | None


class LeaderboardRow(BaseModel):
    rank: int = Field(description="1 for the best")
    job_id: str
    values: dict[str, Any]
    objective: str | int | None
    metrics: Metrics


class Leaderboard(BaseModel):
    sweep_id: str
    objective: SweepObjective
    data: list[LeaderboardRow]
    next_cursor: str | None


class Span(BaseModel):
    start: str
    end: str


class TrainingCounts(BaseModel):
    total: int = Field(description="the window's training children (one per combination)")
    finished: int


class WindowChoice(BaseModel):
    job_id: str = Field(description="the chosen training child")
    values: dict[str, Any]
    objective: str | int | None


class WalkForwardWindow(BaseModel):
    window: int
    status: Literal["training", "testing", "done", "failed", "cancelled", "skipped"]
    train: Span
    test: Span
    training: TrainingCounts
    chosen: WindowChoice | None
    in_sample: Metrics | None = Field(description="the chosen child's metrics (training span)")
    test_job_id: str | None
    out_of_sample: Metrics | None = Field(description="the test child's metrics")
    scale: str | None = Field(description=(
        "the factor the test run's equity and trades are scaled by in the stitched curve"))


class OutOfSample(BaseModel):
    windows: list[int] = Field(description="the windows stitched (those whose test is done)")
    equity_curve: list[EquityPoint]
    metrics: Metrics | None


class WalkForwardReport(BaseModel):
    sweep_id: str
    status: Status
    objective: SweepObjective
    walk_forward: SweepWalkForward
    windows: list[WalkForwardWindow]
    out_of_sample: OutOfSample


class PendingCommand(BaseModel):
    """202: the command is on the event log but the orchestrator has not decided it yet."""

    id: str = Field(examples=["bt_3c91ef"], description="The job the command is about.")
    status: Literal["pending"]


class JobList(BaseModel):
    data: list[Job]
    next_cursor: str | None


class EquityPoint(BaseModel):
    time: str
    equity: str


class TradeOut(BaseModel):
    symbol: str
    side: str
    entry_time: str
    exit_time: str
    entry_price: str
    exit_price: str
    quantity: str
    fees: str
    pnl: str
    funding: str = Field("0", description="funding paid (> 0) or received (< 0) while "
                         "the trade was open; pnl is net of it (docs/engine.md, \"Funding\")")


class Benchmark(BaseModel):
    kind: Literal["buy_and_hold"]
    total_return: str | None
    cagr: str | None
    sharpe: str | None
    max_drawdown: str | None
    alpha: str | None
    beta: str | None
    information_ratio: str | None
    tracking_error: str | None


class DrawdownPeriod(BaseModel):
    peak: str
    trough: str
    recovery: str | None
    depth: str | None
    length_seconds: int


class Drawdowns(BaseModel):
    max_duration_seconds: int
    worst: list[DrawdownPeriod]


class PeriodReturn(BaseModel):
    period: str = Field(examples=["2025-01"])
    # A model field cannot be named `return`; the alias is the document's key.
    return_: str | None = Field(alias="return")


class PeriodReturns(BaseModel):
    monthly: list[PeriodReturn]
    yearly: list[PeriodReturn]


class FundingTotal(BaseModel):
    total: str = Field(description="paid (> 0) or received (< 0) over the run, quote currency")
    source: str = Field(description="import, synthetic or none (no funding series: none paid)")


class JobResult(BaseModel):
    model_config = ConfigDict(extra="allow")

    metrics: Metrics
    equity_curve: list[EquityPoint]
    trades: list[TradeOut]
    trades_total: int = Field(0, description="every closed trade; `trades` lists the "
                              "10,000 most recent")
    wiped_out_at: str | None = Field(None, description="when the portfolio was worth "
                                     "nothing and the run ended (docs/engine.md, "
                                     "\"Wipe-out\"); null if it survived")
    funding: FundingTotal | None = None
    benchmark: Benchmark | None = Field(None, description="buy-and-hold of the same symbols "
                                        "(docs/engine.md, \"Analysis\")")
    drawdowns: Drawdowns | None = None
    returns: PeriodReturns | None = None


class TradePage(BaseModel):
    data: list[TradeOut]
    next_cursor: str | None
    total: int = Field(description="every trade of the job")


class EquitySeries(BaseModel):
    data: list[EquityPoint]
    total: int = Field(description="points of the full curve")


class JobEvent(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    event_id: str
    job_id: str
    seq: int
    occurred_at: str
    causation_id: str
    correlation_id: str


class JobEvents(BaseModel):
    data: list[JobEvent]


class Template(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    name: str
    description: str
    params: dict[str, Any]


class TemplateList(BaseModel):
    data: list[Template]


class ErrorBody(BaseModel):
    error: ErrorDetail


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=200)


class ComponentHealth(BaseModel):
    state: Literal["up", "down", "starting", "unknown"] = Field(
        description="unknown: cannot tell while the broker is down")
    brokers: int | None = Field(None, description="broker: brokers in the cluster metadata")
    members: int | None = Field(None, description="orchestrator, engine: consumer group members")
    lag: int | None = Field(None, description="view: messages of the log not yet in this "
                                              "instance's view (informational)")


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    components: dict[str, ComponentHealth] = Field(
        description="broker, orchestrator, engine, view")
