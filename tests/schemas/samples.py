"""One sample of every message, its optional fields set (a union's non-null branch) where
`SAMPLES_WITH_NULLS` holds the null branch: the inputs of the wire-format tests."""

from __future__ import annotations

from typing import Any

from jobs.messages import (
    AnnotateJob,
    BacktestResult,
    CancelJob,
    CommandRejected,
    InputDecided,
    JobAccepted,
    JobAnnotated,
    JobCancelled,
    JobFailed,
    JobProgressed,
    JobRequeued,
    JobStarted,
    JobSucceeded,
    Metrics,
    ResultPart,
    RunBacktest,
    RunCompleted,
    RunFailed,
    RunProgressed,
    RunStarted,
    SubmitJob,
    WorkerSilent,
    event_id_for,
)

AT = 1_700_000_000_123
ENVELOPE: dict[str, Any] = {
    "event_id": event_id_for("bt_1", 3), "job_id": "bt_1", "seq": 3, "occurred_at": AT,
    "causation_id": "cmd-1", "correlation_id": "corr-1",
}
METRICS = Metrics(sharpe="1.25", sortino=None, calmar="0.5", max_drawdown="-0.125",
                  win_rate="0.5", profit_factor=None, cagr="0.0825", expected_value="12.5",
                  total_trades=42, avg_trade_duration_seconds=3_600)
REPORT: dict[str, Any] = {"job_id": "bt_1", "attempt": 2, "run_id": "run-9", "report_seq": 4}

SAMPLES: dict[str, Any] = {type(m).__name__: m for m in (
    SubmitJob(command_id="cmd-1", job_id="bt_1", owner="alice", config_json='{"a":1}',
              submitted_at=AT, correlation_id="corr-1", idempotency_key="k-1",
              request_hash="h-1"),
    CancelJob(command_id="cmd-2", job_id="bt_1", owner="alice", issued_at=AT,
              correlation_id="corr-1", reason="changed my mind"),
    AnnotateJob(command_id="cmd-3", job_id="bt_1", owner="alice", issued_at=AT,
                correlation_id="corr-1", name="grid v2", tags=["btc", "q3"], notes="wider"),
    WorkerSilent(job_id="bt_1", attempt=2, now=AT, max_attempts=3),
    RunStarted(**REPORT, worker_id="w-1", occurred_at=AT, max_attempts=5),
    RunProgressed(**REPORT, progress=0.375, occurred_at=AT),
    RunCompleted(**REPORT, metrics=METRICS, result_ref="bt_1/2", occurred_at=AT),
    RunFailed(**REPORT, error_code="ENGINE_ERROR", error_message="boom", occurred_at=AT),
    JobAccepted(**ENVELOPE, owner="alice", config_json='{"a":1}', submitted_at=AT,
                idempotency_key="k-1", request_hash="h-1"),
    JobStarted(**ENVELOPE, attempt=2, worker_id="w-1", run_id="run-9"),
    JobProgressed(**ENVELOPE, attempt=2, progress=0.375),
    JobSucceeded(**ENVELOPE, attempt=2, metrics=METRICS, result_ref="bt_1/2"),
    JobFailed(**ENVELOPE, attempt=2, error_code="WORKER_LOST", error_message="lost"),
    JobCancelled(**ENVELOPE, progress=0.25, reason="changed my mind"),
    JobRequeued(**ENVELOPE, attempt=3, reason="no report"),
    JobAnnotated(**ENVELOPE, name="grid v2", tags=["btc", "q3"], notes="wider"),
    CommandRejected(**ENVELOPE, command_id="cmd-2", command_type="CancelJob",
                    error_code="INVALID_STATE", error_message="job bt_1 is already done"),
    RunBacktest(job_id="bt_1", attempt=2, config_json='{"a":1}', issued_at=AT,
                correlation_id="corr-1"),
    BacktestResult(job_id="bt_1", attempt=2, document_json='{"metrics":{}}'),
    ResultPart(job_id="bt_1", attempt=2, kind="trades", index=0, parts=1, rows_json="[]"),
    InputDecided(job_id="bt_1", input_topic="p.commands", input_partition=1, input_offset=77,
                 input_type="SubmitJob", outcome="events", reason="", event_seqs=[1, 2],
                 instance="orch-1", decided_at=AT),
)}

SAMPLES_WITH_NULLS: dict[str, Any] = {type(m).__name__: m for m in (
    SubmitJob(command_id="cmd-1", job_id="bt_1", owner="alice", config_json="{}",
              submitted_at=AT, correlation_id="corr-1"),
    CancelJob(command_id="cmd-2", job_id="bt_1", owner="alice", issued_at=AT,
              correlation_id="corr-1"),
    JobAccepted(**ENVELOPE, owner="alice", config_json="{}", submitted_at=AT),
    JobCancelled(**ENVELOPE, progress=0.0),
    AnnotateJob(command_id="cmd-3", job_id="bt_1", owner="alice", issued_at=AT,
                correlation_id="corr-1"),
    JobAnnotated(**ENVELOPE, tags=[]),
)}
