"""The engine worker process: RunBacktest items in, reports and results out.

A confluent-kafka consumer group on `work`. One job at a time: while it runs,
the consumer keeps polling from the progress callback, so a long job never trips
`max.poll.interval.ms`; work items that arrive meanwhile wait in a backlog, and the
partitions keep fetching (a paused partition resumes only when librdkafka's fetcher
next wakes up, which cost an idle stack up to a second per job), unless the backlog
is full. Reports and results are produced asynchronously: the worker goes on to the
next item without waiting for the broker, and an item's offset is committed only
once everything produced for it is acknowledged, in order (`workers/commits.py`), so
a worker killed mid-job, or before its last messages were acknowledged, leaves the
item to be redelivered (or re-queued by the orchestrator's liveness check).
Cancellation: a group-less consumer follows `events`; a JobCancelled for the running
job stops the backtest at the next progress callback (the engine calls it every few
ms of compute).

Start-up pays the fixed costs once per process: `warm_up()` compiles (or loads
from numba's on-disk cache) every kernel before the worker joins the group, and
a low-priority background thread generates the synthetic 1m files of the
default symbols that are missing (each under a per-symbol file lock, so several
workers generate a symbol once). A job whose synthetic symbols are still
missing generates them *before* it reports RunStarted: the job stays `queued`
(cancellable by the orchestrator alone) and its running time measures the
backtest, not a one-off data build.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from engine import (
    BacktestCancelled,
    BacktestError,
    ConfigError,
    MarketDataStore,
    format_metrics,
    parse_config,
    result_document,
    run_backtest,
    warm_up,
)
from engine.contract import ENGINE_ERROR, INVALID_CONFIG, BacktestConfig
from engine.contract import BacktestResult as EngineResult
from engine.marketdata.synthetic import SPECS
from engine.results import page_count, result_parts
from jobs import messages
from jobs.messages import (
    BacktestResult,
    EquityPage,
    JobCancelled,
    Metrics,
    ResultPart,
    RunBacktest,
    RunCompleted,
    RunFailed,
    RunProgressed,
    RunStarted,
    SweepCancelled,
    SweepStoppedEarly,
)
from jobs.sweep_state import sweep_of
from pipai.kafka.clients import new_consumer, new_producer
from pipai.kafka.codec import PoisonLog, PoisonMessage, message_codec
from pipai.kafka.reader import assign_at_end
from pipai.log import get_logger
from pipai.settings import Settings
from pipai.topics import Groups, Topics, ensure_topics
from workers.commits import OrderedCommits, Partition, Ticket

log = get_logger("workers.engine_worker")
PROGRESS_EVERY_S = 1.0
PROGRESS_EVERY_FRACTION = 0.05
# ... but not more often: a job of a few tens of ms sends none (each report is an input the
# orchestrator decides, an event kept forever and an SSE frame, ahead of RunCompleted).
PROGRESS_MIN_INTERVAL_S = 0.25
# The engine's run is this share of a job's progress; writing the result's pages the
# rest (a two-year 1m run on five symbols has ~1M curve points: over a second to write).
ENGINE_SHARE = 0.95
# The events whose id ends a run: a job's cancel, or its sweep's.
_ENDINGS = frozenset({"JobCancelled", "SweepCancelled", "SweepStoppedEarly"})
MAX_CANCELLED = 100_000  # job ids remembered as cancelled: bounded memory on long-lived workers
GROUP_CONFIG = {
    "enable.auto.offset.store": False, "max.poll.interval.ms": 300_000,
    "partition.assignment.strategy": "cooperative-sticky",
    # a killed worker's partitions move on within ~10 s (librdkafka's default: 45 s)
    "session.timeout.ms": 10_000, "heartbeat.interval.ms": 2_000,
}
# A report goes out at once: a job's messages are few, and a linger only delays them.
PRODUCER_CONFIG = {"linger.ms": 0}
BACKLOG_MAX = 100  # work items held while a job runs; past it the partitions are paused
IDLE_POLL_S = 0.5
ACK_POLL_S = 0.01  # while acknowledgements are awaited, so commits follow them promptly


def _now_ms() -> int:
    return int(time.time() * 1000)


class _ShuttingDown(Exception):
    """SIGTERM during a job: abandon it uncommitted (it is redelivered or re-queued)."""


class _Run:
    """Reports of one execution of one attempt (its own run_id and report_seq)."""

    def __init__(self, worker: EngineWorker, item: RunBacktest) -> None:
        self.worker = worker
        self.item = item
        self.run_id = uuid.uuid4().hex
        self.report_seq = 0
        self.began = time.monotonic()
        self.last_sent_at = self.began  # RunStarted counts as the first report
        self.last_fraction = 0.0

    def report(self, cls: type, **fields: Any) -> None:
        self.report_seq += 1
        message = cls(job_id=self.item.job_id, attempt=self.item.attempt, run_id=self.run_id,
                      report_seq=self.report_seq, occurred_at=_now_ms(), **fields)
        self.worker.send(self.worker.topics.reports, self.item.job_id, message)

    def on_progress(self, fraction: float) -> None:
        """The engine's progress callback: serve Kafka, hear cancels, report."""
        self.check_cancel()
        pace = self.worker.settings.engine_min_job_seconds
        while pace and time.monotonic() - self.began < fraction * pace:
            time.sleep(0.05)  # paced mode: still answers a cancel within ~50 ms
            self.check_cancel()
            self._maybe_report(fraction)
        self._maybe_report(fraction)

    def check_cancel(self) -> None:
        self.worker.keep_alive()
        if self.worker.stopping:
            raise _ShuttingDown()
        if self.worker.is_cancelled(self.item.job_id):
            raise BacktestCancelled()

    def _maybe_report(self, fraction: float) -> None:
        """A RunProgressed when a second passed since the last report, or the job moved
        5 % and a quarter of a second passed: a running job is never silent for more
        than a second (plus one engine step), a job sends at most 4 a second and ~20 in
        all, and one shorter than a quarter of a second none."""
        if fraction >= 1.0:
            return  # RunCompleted says it
        now = time.monotonic()
        since = now - self.last_sent_at
        moved = fraction - self.last_fraction >= PROGRESS_EVERY_FRACTION - 1e-9
        if since >= PROGRESS_EVERY_S or (moved and since >= PROGRESS_MIN_INTERVAL_S):
            self.report(RunProgressed, progress=float(fraction))
            self.last_sent_at, self.last_fraction = now, fraction


class EngineWorker:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topics = Topics.for_prefix(settings.topic_prefix)
        self.codec = message_codec(settings, messages)
        self.poison = PoisonLog(log, "poison_work_item_skipped")
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}"
        self.store = MarketDataStore(settings.market_dir)
        self.producer = new_producer(settings, **PRODUCER_CONFIG)
        self.consumer = new_consumer(settings, Groups.for_prefix(settings.topic_prefix).engine,
                                     **GROUP_CONFIG, on_commit=self._on_commit)
        self.cancel_watch = new_consumer(settings)
        self.cancelled: set[str] = set()
        self.stopping = False
        self.commits = OrderedCommits(self._commit)
        self.ticket: Ticket | None = None  # the item being run: what is sent counts on it
        self.backlog: deque[Message] = deque()  # work items taken, not yet run
        self.paused = False  # the backlog is full: every assigned work partition is paused
        self.sync_commits = False  # on the way out: commits wait for the broker

    # ---- Kafka plumbing -----------------------------------------------------------
    def send(self, topic: str, key: str, message: Any) -> None:
        """Produce, without waiting; counted on the running item, which is committed
        only once this is acknowledged."""
        ticket = self.ticket
        delivered = self.commits.expect(ticket) if ticket is not None else None
        try:
            self.producer.produce(topic, key=key.encode(), value=self.codec.encode(message),
                                  on_delivery=delivered)
        except (BufferError, KafkaException) as exc:
            if ticket is not None:
                self.commits.failed(ticket, f"not queued: {exc}")
            raise
        self.producer.poll(0)

    def keep_alive(self) -> None:
        """Serve the group protocol, the producer and the cancellations while a job runs.

        Each poll resets the max.poll.interval.ms timer, so a job of any length keeps
        the membership. A work item that arrives meanwhile waits in the backlog."""
        self._take(self.consumer.poll(0))
        self.producer.poll(0)
        self._drain_cancellations()

    def _take(self, msg: Message | None) -> None:
        if msg is None:
            return
        error = msg.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                log.warning("consumer_error", error=str(error))
            return
        self.backlog.append(msg)
        if len(self.backlog) >= BACKLOG_MAX and not self.paused:
            self.consumer.pause(self.consumer.assignment())
            self.paused = True

    def _resume_if_drained(self) -> None:
        """Resume while half the backlog is left, so the fetcher's restart (up to a
        second) is spent on running those jobs."""
        if self.paused and len(self.backlog) <= BACKLOG_MAX // 2:
            self.consumer.resume(self.consumer.assignment())
            self.paused = False

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        consumer.incremental_assign(partitions)
        if self.paused and partitions:
            consumer.pause(partitions)
        log.info("work_partitions_assigned", partitions=[p.partition for p in partitions],
                 paused=self.paused)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Revoked (or lost): their items, held or unacknowledged, are the next owner's."""
        gone = {(p.topic, p.partition) for p in partitions}
        self.backlog = deque(m for m in self.backlog
                             if (str(m.topic()), int(m.partition() or 0)) not in gone)
        self.commits.forget(gone)
        consumer.incremental_unassign(partitions)
        log.info("work_partitions_revoked", partitions=[p.partition for p in partitions])

    def _commit(self, partition: Partition, next_offset: int) -> None:
        tp = TopicPartition(partition[0], partition[1], next_offset)
        try:
            self.consumer.store_offsets(offsets=[tp])
            if self.sync_commits:
                self.consumer.commit(offsets=[tp], asynchronous=False)
            else:
                self.consumer.commit(offsets=[tp], asynchronous=True)
        except KafkaException as exc:  # partition revoked meanwhile: the next owner redoes it
            log.warning("commit_failed", error=str(exc))

    def _on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        failed = [p.partition for p in partitions if p.error is not None]
        if error is not None or failed:
            log.warning("commit_failed", error=str(error), partitions=failed)

    def _watch_cancellations(self) -> None:
        assign_at_end(self.cancel_watch, self.topics.events, timeout_s=10)

    def _drain_cancellations(self) -> None:
        for msg in self.cancel_watch.consume(num_messages=500, timeout=0):
            if msg.error() or self.codec.records.record_name(msg.value()) not in _ENDINGS:
                continue  # a sweep writes ~4 events a child; only cancels are decoded
            try:
                event = self.codec.decode_message(msg)
            except PoisonMessage:
                continue  # the orchestrator's log, not this worker's concern
            if isinstance(event, JobCancelled):
                self.cancelled.add(event.job_id)
            elif isinstance(event, SweepCancelled | SweepStoppedEarly):
                self.cancelled.add(event.job_id)  # the sweep's id: each child's CancelJob follows
            if len(self.cancelled) > MAX_CANCELLED:
                self.cancelled.clear()

    def is_cancelled(self, job_id: str) -> bool:
        return is_cancelled(self.cancelled, job_id)

    # ---- start-up -----------------------------------------------------------------
    def prepare(self) -> None:
        """Fixed costs once per process, before joining the group."""
        started = time.perf_counter()
        warm_up()
        log.info("engine_warmed_up", seconds=round(time.perf_counter() - started, 3))
        if self.store.synthetic:
            threading.Thread(target=self._pregenerate, name="pregenerate", daemon=True).start()

    def _pregenerate(self) -> None:
        """Generate the missing default synthetic symbols at low CPU priority."""
        with contextlib.suppress(OSError):  # nice this thread only (Linux)
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        for symbol in SPECS:
            if self.stopping:
                return
            if not self._generate(symbol):
                return  # a full disk must not kill the worker; jobs retry it

    def _prepare_data(self, config: BacktestConfig) -> None:
        """Generate the job's missing synthetic symbols now (the job is still queued)."""
        for symbol in config.symbols:
            self._generate(symbol)  # on failure the run retries and fails the job with a code
            self.keep_alive()

    def _generate(self, symbol: str) -> bool:
        """Generate `symbol`'s synthetic data if missing; False if that failed."""
        started = time.perf_counter()
        try:
            if self.store.generate_if_missing(symbol):
                log.info("synthetic_data_generated", symbol=symbol,
                         seconds=round(time.perf_counter() - started, 3))
        except Exception:
            log.exception("synthetic_data_generation_failed", symbol=symbol)
            return False
        return True

    def _join_group(self) -> None:
        self.consumer.subscribe([self.topics.work], on_assign=self._on_assign,
                                on_revoke=self._on_revoke)
        log.info("engine_worker_ready", worker_id=self.worker_id)

    # ---- the loop -----------------------------------------------------------------
    def run(self) -> None:
        pin_allocator()
        self.prepare()
        self._watch_cancellations()
        self._join_group()
        try:
            while not self.stopping:
                self._poll_once()
        finally:
            self.close()

    def _poll_once(self) -> None:
        self.commits.check()  # an item whose production failed stops the worker here
        if not self.backlog:
            self._take(self.consumer.poll(ACK_POLL_S if self.commits.pending else IDLE_POLL_S))
        self.producer.poll(0)  # delivery reports: they commit what they complete
        self._drain_cancellations()
        if self.backlog:
            self._handle(self.backlog.popleft())
            self._resume_if_drained()

    def _handle(self, msg: Message) -> None:
        """Run one work item; its offset is committed once what it produced is on the log."""
        ticket = self.commits.open(str(msg.topic()), int(msg.partition() or 0),
                                   int(msg.offset() or 0))
        self.ticket = ticket
        try:
            item = self.codec.decode_as(RunBacktest, msg)
        except PoisonMessage as poison:
            self.poison.skip(poison)
            item = None
        try:
            if item is not None:
                self._execute(item)
        except _ShuttingDown:
            assert item is not None
            log.info("job_abandoned_on_shutdown", job_id=item.job_id, attempt=item.attempt)
            return  # never closed, so never committed: the next owner of the partition runs it
        finally:
            self.ticket = None
        self.commits.close(ticket)

    # ---- one work item ------------------------------------------------------------
    def _execute(self, item: RunBacktest) -> None:
        try:
            config: BacktestConfig | None = parse_config(orjson.loads(item.config_json))
            config_error = None
        except ConfigError as exc:
            config, config_error = None, str(exc)
        if config is not None:
            self._prepare_data(config)
        self._drain_cancellations()
        if self.is_cancelled(item.job_id):
            log.info("skip_cancelled_job", job_id=item.job_id, attempt=item.attempt)
            return
        run = _Run(self, item)
        run.report(RunStarted, worker_id=self.worker_id,
                   max_attempts=self.settings.max_attempts)
        log.info("job_started", job_id=item.job_id, attempt=item.attempt, run_id=run.run_id)
        if config is None:
            run.report(RunFailed, error_code=INVALID_CONFIG, error_message=str(config_error))
            log.info("job_failed", job_id=item.job_id, error_code=INVALID_CONFIG)
            return
        started = time.perf_counter()
        outcome = self._backtest(run, config, started)
        if outcome is not None:
            self._complete(run, outcome, started=started)

    def _backtest(self, run: _Run, config: BacktestConfig,
                  started: float) -> Rendered | None:
        """Run the engine: its rendered result on success; None once the run ended
        otherwise (cancelled, or failed and reported)."""
        item = run.item
        try:
            result = run_backtest(config, self.store,
                                  lambda fraction: run.on_progress(fraction * ENGINE_SHARE))
            return _rendered(result, run.on_progress)
        except BacktestCancelled:
            log.info("job_cancelled", job_id=item.job_id, attempt=item.attempt,
                     run_id=run.run_id, progress=round(run.last_fraction, 4),
                     seconds=round(time.perf_counter() - started, 3))
        except BacktestError as exc:
            run.report(RunFailed, error_code=exc.code, error_message=exc.message)
            log.info("job_failed", job_id=item.job_id, error_code=exc.code,
                     error_message=exc.message)
        except _ShuttingDown:
            raise
        except Exception as exc:  # a bug must fail the job, not the worker
            log.exception("engine_error", job_id=item.job_id)
            run.report(RunFailed, error_code=ENGINE_ERROR, error_message=type(exc).__name__)
        return None

    def _complete(self, run: _Run, rendered: Rendered, started: float) -> None:
        """The result's pages and summary first, then the report that points at them.
        Each page has its own key on the compacted topic (the summary keeps the job's)."""
        item = run.item
        for kind, index, parts, rows in rendered.parts:
            page: ResultPart | EquityPage = (
                EquityPage(job_id=item.job_id, attempt=item.attempt, index=index, parts=parts,
                           data=rows) if isinstance(rows, bytes)
                else ResultPart(job_id=item.job_id, attempt=item.attempt, kind=kind,
                                index=index, parts=parts, rows_json=rows))
            self.send(self.topics.results, f"{item.job_id}/{item.attempt}/{kind}/{index}",
                      page)
        self.send(self.topics.results, item.job_id,
                  BacktestResult(job_id=item.job_id, attempt=item.attempt,
                                 document_json=rendered.document_json))
        run.report(RunCompleted, metrics=rendered.metrics,
                   result_ref=f"{item.job_id}/{item.attempt}")
        log.info("job_completed", job_id=item.job_id, attempt=item.attempt,
                 seconds=round(time.perf_counter() - started, 3),
                 result_bytes=len(rendered.document_json), result_parts=len(rendered.parts))

    def close(self) -> None:
        """Wait (10 s at most) for what was produced, committing what it completes."""
        self.sync_commits = True
        self.producer.flush(10)
        self.consumer.close()
        self.cancel_watch.close()


@dataclass(frozen=True)
class Rendered:
    metrics: Metrics
    document_json: str  # the summary (Get Result)
    parts: list[tuple[str, int, int, str | bytes]]  # (kind, index, parts, JSON rows | binary)


def _rendered(result: EngineResult, progress: Callable[[float], None]) -> Rendered:
    """The run's metrics as the API shows them, its result document as JSON, and the
    full trade list (JSON) and curve (binary, engine/equity_pages.py: the summary leaves
    it to its pages) in pages; `progress` is told of each page (it reports, hears
    cancels and serves Kafka), from ENGINE_SHARE towards 1."""
    formatted: dict[str, Any] = format_metrics(result.metrics)
    for name in ("total_trades", "avg_trade_duration_seconds"):
        formatted[name] = int(formatted[name] or 0)  # 0 when no trades; Avro longs
    metrics = Metrics(**{k: formatted[k] for k in Metrics.__dataclass_fields__})
    document = result_document(result, curve_in_pages=True)
    document["metrics"] = metrics.as_dict()  # one rendering for job and result
    parts: list[tuple[str, int, int, str | bytes]] = []
    pages = page_count(result)
    for part in result_parts(result, document, binary_equity=True):
        parts.append(part)
        progress(ENGINE_SHARE + (1 - ENGINE_SHARE) * len(parts) / pages)
    return Rendered(metrics, orjson.dumps(document).decode(), parts)


def is_cancelled(cancelled: set[str], job_id: str) -> bool:
    """`job_id` or its sweep is among the ids heard cancelled: a sweep's one
    SweepCancelled or SweepStoppedEarly reaches the worker well before its thousands of
    CancelJobs are decided, and a child not started is left queued for its own cancel
    to end (the sweep sends one to every child it has not heard finish)."""
    if job_id in cancelled:
        return True
    child = sweep_of(job_id)
    return child is not None and child[0] in cancelled


def pin_allocator() -> None:
    """A fixed glibc mmap threshold, and no trimming: freed engine arrays of a few MB are
    reused from the heap instead of coming back fresh from mmap, page-faulting on first
    write (docs/engine.md, "Comparing two trees"); the worker keeps its peak heap."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to pin
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 256 * 1024 * 1024)
    libc.mallopt(m_trim_threshold, 1024 * 1024 * 1024)


def main() -> None:
    settings = Settings.from_env()
    ensure_topics(settings)
    worker = EngineWorker(settings)

    def stop(*_: object) -> None:
        worker.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.run()
