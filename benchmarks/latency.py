"""Submit -> done latency on an idle stack, and where the time goes, hop by hop.

    .venv/bin/python -m benchmarks.latency [--jobs 200] [--warmup 10]

Starts its own stack in a temporary directory on free ports (a local broker unless
KAFKA_BOOTSTRAP_SERVERS is set, one orchestrator, one engine worker, one API under
uvicorn), warms it up, then runs `--jobs` one-year 1h tpl_grid jobs (the README's curl
example) one after the other. For each job the client (httpx, signed by the SDK's
`PipaiAuth`) sends Create Job, then follows the job's Server-Sent Events until the
terminal event, and notes on its own clock when it sent the Create, when the Create
answered and when the terminal event arrived.

After the run it reads the log back with a plain consumer (`pipai.kafka.reader`) and
breaks each job's submit -> done down by hop, with the records' own timestamps. The
benchmark sets `message.timestamp.type=LogAppendTime` on its own `commands`, `work`,
`reports` and `events` topics, so a record's Kafka timestamp is when the broker appended
it; the moment a process made the record is in the record itself (`SubmitJob.submitted_at`,
the reports' `occurred_at`, the decisions' `decided_at`). Every process runs on this
machine, so all clocks are one clock (milliseconds on the log).

Hops of submit -> done (A(x): broker append time of record x):

    client -> API        SubmitJob.submitted_at - client send (HTTP, auth, validation)
    API -> commands      A(SubmitJob) - submitted_at (the API's producer)
    commands -> orch     decided_at(SubmitJob) - A(SubmitJob) (fetch, decide)
    orch -> work         A(RunBacktest) - decided_at(SubmitJob) (the orchestrator's producer)
    work -> engine       RunStarted.occurred_at - A(RunBacktest) (fetch, parse, data check)
    engine run           RunCompleted.occurred_at - RunStarted.occurred_at (backtest, result)
    engine -> reports    A(RunCompleted) - RunCompleted.occurred_at (the worker's producer)
    reports -> orch      decided_at(RunCompleted) - A(RunCompleted) (fetch, progress backlog)
    orch -> events       A(JobSucceeded) - decided_at(RunCompleted)
    events -> SSE client client's terminal event - A(JobSucceeded) (projection, SSE, HTTP)

and of Create: client -> API, API -> commands, commands -> orch as above, then
orch -> events (A(JobAccepted) - decided_at(SubmitJob)) and events -> API answer
(the projection, the command bus's waiter, the HTTP answer). The last line is one JSON
object of the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

CONFIG: dict[str, Any] = {
    "template_id": "tpl_grid",
    "params": {"grid_levels": 10, "upper_price": "110000", "lower_price": "85000"},
    "symbols": ["BTCUSDT"], "timeframe": "1h",
    "start": "2025-01-01T00:00:00Z", "end": "2025-12-31T23:59:59Z",
    "capital": "10000.00", "leverage": 1, "fee_model": "fixed_bps", "fee_bps": "5"}
TERMINAL_EVENTS = frozenset({"JobSucceeded", "JobFailed", "JobCancelled"})
JOBS = "/v1/backtest/jobs"

HOPS = ["client -> API", "API -> commands", "commands -> orch", "orch -> work",
        "work -> engine", "engine run", "engine -> reports", "reports -> orch",
        "orch -> events", "events -> SSE client"]
CREATE_HOPS = ["client -> API", "API -> commands", "commands -> orch",
               "orch -> events (accepted)", "events -> API answer"]


def _now_ms() -> float:
    return time.time_ns() / 1e6


@dataclass
class Seen:
    """One job as the client saw it, on its own clock (ms since the epoch)."""

    job_id: str
    sent: float
    created: float
    done: float
    terminal: str


@dataclass
class Logged:
    """One job's moments on the log (ms since the epoch)."""

    stamps: dict[str, int] = field(default_factory=dict)
    progress_reports: int = 0

    def put(self, name: str, value: int) -> None:
        self.stamps.setdefault(name, value)  # the first one: a job runs once here


# ---- the stack ----------------------------------------------------------------------

def _market(settings: Any) -> None:
    """Every default synthetic symbol generated before the worker starts, so its
    background generation does not run during the measurement."""
    from engine import MarketDataStore
    from engine.marketdata.synthetic import SPECS

    store = MarketDataStore(settings.market_dir)
    for symbol in SPECS:
        store.generate_if_missing(symbol)


def _log_append_time(settings: Any) -> None:
    from confluent_kafka.admin import (
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
        ResourceType,
    )

    from pipai.kafka.clients import new_admin
    from pipai.topics import Topics

    topics = Topics.for_prefix(settings.topic_prefix)
    entry = ConfigEntry("message.timestamp.type", "LogAppendTime",
                        incremental_operation=AlterConfigOpType.SET)
    resources = [ConfigResource(ResourceType.TOPIC, name, incremental_configs=[entry])
                 for name in (topics.commands, topics.work, topics.reports, topics.events)]
    admin = new_admin(settings)  # kept alive until the futures resolve
    for future in admin.incremental_alter_configs(resources).values():
        future.result(30)


def start_stack(tmp: Path) -> tuple[Any, Any, Any]:
    """(broker or None, stack, demo key): everything up and the groups stable."""
    from cli.stack import Stack, demo_key
    from pipai.broker import LocalBroker
    from pipai.processes import free_port
    from pipai.settings import Settings
    from pipai.topics import ensure_topics

    settings = Settings.from_env().with_(
        data_dir=tmp, topic_prefix=f"lat.{uuid.uuid4().hex[:8]}", api_port=free_port(),
        market_dir_override=tmp / "market", engine_workers=1, api_weight_per_minute=10**9)
    broker = None
    if not settings.bootstrap_servers:
        broker = LocalBroker(tmp / "kafka", free_port(), free_port())
        broker.start()
        settings = settings.with_(bootstrap_servers=broker.bootstrap)
    stack = Stack(settings, log_dir=tmp / "logs")
    key = demo_key(settings)
    try:
        _market(settings)
        ensure_topics(settings)
        _log_append_time(settings)
        stack.start()
        stack.wait_api(key)
        stack.wait_groups(members=1)
    except BaseException:
        stack.stop()
        if broker is not None:
            broker.stop()
        raise
    return broker, stack, key


# ---- the client ---------------------------------------------------------------------

def one_job(client: httpx.Client) -> Seen:
    from pipai.client import parse_sse

    sent = _now_ms()
    response = client.post(JOBS, json=CONFIG)
    created = _now_ms()
    if response.status_code != 201:
        raise RuntimeError(f"create answered {response.status_code}: {response.text}")
    job_id = response.json()["id"]
    with client.stream("GET", f"{JOBS}/{job_id}/events", params={"stream": "true"}) as stream:
        if stream.status_code != 200:
            raise RuntimeError(f"events answered {stream.status_code}")
        for event in parse_sse(stream.iter_lines()):
            if event["type"] in TERMINAL_EVENTS:
                return Seen(job_id, sent, created, _now_ms(), event["type"])
    raise RuntimeError(f"the event stream of {job_id} ended before a terminal event")


def run_jobs(client: httpx.Client, count: int, progress: Callable[[int], None]) -> list[Seen]:
    seen = []
    for i in range(count):
        seen.append(one_job(client))
        progress(i + 1)
    return seen


# ---- the log ------------------------------------------------------------------------

def read_log(settings: Any) -> dict[str, Logged]:
    """Per job: when each record of its life was made and appended."""
    from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME

    from jobs import messages
    from pipai.kafka.codec import MessageCodec
    from pipai.kafka.reader import read_topic
    from pipai.topics import Topics
    from schemas.codec import default_codec

    topics = Topics.for_prefix(settings.topic_prefix)
    codec = MessageCodec(default_codec(), messages)
    jobs: dict[str, Logged] = defaultdict(Logged)
    for topic in (topics.commands, topics.work, topics.reports, topics.events, topics.decisions):
        for msg in read_topic(settings, topic):
            message = codec.decode_message(msg)
            kind, appended = msg.timestamp()
            name = type(message).__name__
            logged = jobs[message.job_id]
            if topic == topics.decisions:
                logged.put(f"decided:{message.input_type}", message.decided_at)
                continue
            if kind != TIMESTAMP_LOG_APPEND_TIME:
                raise RuntimeError(f"{topic} does not carry LogAppendTime")
            logged.put(f"A:{name}", appended)
            if name == "RunProgressed":
                logged.progress_reports += 1
            if hasattr(message, "occurred_at") and topic == topics.reports:
                logged.put(f"at:{name}", message.occurred_at)
            if name == "SubmitJob":
                logged.put("at:SubmitJob", message.submitted_at)
    return jobs


def hops_of(seen: Seen, logged: Logged) -> tuple[dict[str, float], dict[str, float]]:
    """(submit -> done hops, Create hops) of one job, in ms."""
    s = logged.stamps
    terminal = f"A:{seen.terminal}"
    chain = [seen.sent, s["at:SubmitJob"], s["A:SubmitJob"], s["decided:SubmitJob"],
             s["A:RunBacktest"], s["at:RunStarted"], s["at:RunCompleted"],
             s["A:RunCompleted"], s["decided:RunCompleted"], s[terminal], seen.done]
    done = {hop: chain[i + 1] - chain[i] for i, hop in enumerate(HOPS)}
    create_chain = [seen.sent, s["at:SubmitJob"], s["A:SubmitJob"], s["decided:SubmitJob"],
                    s["A:JobAccepted"], seen.created]
    create = {hop: create_chain[i + 1] - create_chain[i] for i, hop in enumerate(CREATE_HOPS)}
    return done, create


# ---- figures ------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": percentile(values, 0.50), "p95": percentile(values, 0.95),
            "p99": percentile(values, 0.99), "mean": statistics.fmean(values)}


def print_table(title: str, rows: dict[str, list[float]]) -> None:
    print(f"\n{title}")
    print(f"  {'hop':26} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for name, values in rows.items():
        f = summary(values)
        print(f"  {name:26} {f['p50']:8.1f} {f['p95']:8.1f} {f['p99']:8.1f} {f['mean']:8.1f}")


def report(seen: list[Seen], log: dict[str, Logged]) -> dict[str, Any]:
    done_hops: dict[str, list[float]] = {hop: [] for hop in HOPS}
    create_hops: dict[str, list[float]] = {hop: [] for hop in CREATE_HOPS}
    for job in seen:
        done, create = hops_of(job, log[job.job_id])
        for hop, value in done.items():
            done_hops[hop].append(value)
        for hop, value in create.items():
            create_hops[hop].append(value)
    total = [j.done - j.sent for j in seen]
    creates = [j.created - j.sent for j in seen]
    print_table("submit -> done", {"total (client)": total, **done_hops})
    print_table("Create Job", {"total (client)": creates, **create_hops})
    reports = statistics.median(log[j.job_id].progress_reports for j in seen)
    print(f"\nRunProgressed reports per job (median): {reports:.0f}")
    t, c = summary(total), summary(creates)
    return {"benchmark": "latency", "jobs": len(seen),
            "p50_ms": round(t["p50"], 1), "p95_ms": round(t["p95"], 1),
            "p99_ms": round(t["p99"], 1),
            "create_p50_ms": round(c["p50"], 1), "create_p95_ms": round(c["p95"], 1),
            "create_p99_ms": round(c["p99"], 1),
            "hops_p50_ms": {hop: round(percentile(v, 0.5), 1) for hop, v in done_hops.items()},
            "create_hops_p50_ms": {hop: round(percentile(v, 0.5), 1)
                                   for hop, v in create_hops.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()

    import logging

    from pipai.client import PipaiAuth

    logging.getLogger("httpx").setLevel(logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="pipai-bench-latency-"))
    broker, stack, key = start_stack(tmp)
    settings = stack.settings
    load = os.getloadavg()
    try:
        base = f"http://{settings.api_host}:{settings.api_port}"
        with httpx.Client(base_url=base, auth=PipaiAuth(key.api_key, key.secret),
                          timeout=httpx.Timeout(30.0, read=60.0)) as client:
            run_jobs(client, args.warmup, lambda _: None)
            seen = run_jobs(client, args.jobs, lambda i: print(
                f"\r{i}/{args.jobs} jobs", end="", flush=True) if i % 20 == 0 else None)
        print()
        log = read_log(settings)
    finally:
        stack.stop()
        if broker is not None:
            broker.stop()
    print(f"{args.jobs} sequential jobs after {args.warmup} warm-up jobs, one-year 1h tpl_grid; "
          f"{os.cpu_count()} CPUs; load average at start {load[0]:.2f}, "
          f"at end {os.getloadavg()[0]:.2f}")
    print(json.dumps(report(seen, log)))


if __name__ == "__main__":
    main()
