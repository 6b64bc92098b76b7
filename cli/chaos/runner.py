"""`pipai chaos`: iterations of load + one seeded fault + recovery, each followed by the
invariant checks on the log. One line per iteration on stdout, then one JSON line.

An iteration: the load starts; at the seeded moment the fault is injected (and recovered
from: what was killed is restarted at once, what was stopped is continued); the load runs
`settle_s` more and stops; the runner waits until the stack is quiet (every accepted job
terminal, every input decided) or the quiet deadline passes; then it checks. Violations are
counted once (a lost job stays lost in every later check, but counts in the iteration
that found it).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from cli.chaos.faults import inject
from cli.chaos.invariants import (
    COUNTERS,
    Cancel,
    Create,
    LogContents,
    Violation,
    accepted_by_job,
    check,
    check_view,
    count,
    decided_keys,
    decision_reasons,
    input_key,
    terminals_by_job,
)
from cli.chaos.load import Load, LoadShape
from cli.chaos.logview import LogView
from cli.chaos.schedule import ENGINE_CRASHLOOP, FAULTS, Step, schedule
from cli.chaos.stack import ChaosStack, chaos_settings
from jobs.decider import JobState
from pipai.client import Client
from pipai.log import get_logger

log = get_logger("cli.chaos")


@dataclass
class ChaosOptions:
    seed: int
    iterations: int
    faults: tuple[str, ...] = FAULTS
    keep: bool = False
    settle_s: float = 3.0  # load after recovery, before it stops
    running_slack_s: float = 20.0  # fault outages (takeover, broker restart) on top of the bound
    view_timeout_s: float = 20.0
    shape: LoadShape = field(default_factory=LoadShape)
    data_dir: Path | None = None


@dataclass
class Summary:
    iterations: int
    failed: list[int]
    counts: dict[str, int]
    reasons: Counter[str]
    pids: set[int]
    data_dir: Path

    @property
    def ok(self) -> bool:
        return not self.failed

    def json_line(self) -> str:
        return json.dumps({"iterations": self.iterations, "ok": self.ok, **self.counts,
                           "failed_iterations": self.failed,
                           "decisions": dict(sorted(self.reasons.items()))})


class Run:
    def __init__(self, options: ChaosOptions, out: TextIO, err: TextIO) -> None:
        self.options = options
        self.out, self.err = out, err
        data_dir = options.data_dir or Path(tempfile.mkdtemp(prefix="pipai-chaos-"))
        self.chaos = ChaosStack(chaos_settings(data_dir))
        s = self.chaos.settings
        # docs/architecture.md: a job is never running longer than heartbeat timeout x
        # attempts (plus a liveness tick and the job itself per attempt, plus fault outages)
        per_attempt = s.heartbeat_timeout_s * 1.25 + s.engine_min_job_seconds + 1.0
        self.running_bound_s = s.max_attempts * per_attempt + options.running_slack_s
        self.crashloop_s = self.running_bound_s + 5.0  # outlasts the bound: a loop must end it
        self.quiet_timeout_s = self.running_bound_s + 30.0
        self.creates: list[Create] = []
        self.cancels: list[Cancel] = []
        self.seen: set[tuple[str, str]] = set()
        self.totals: Counter[str] = Counter()
        self.failed: list[int] = []
        self.logview: LogView | None = None

    # ---- the whole run --------------------------------------------------------------------
    def execute(self) -> Summary:
        steps = schedule(self.options.seed, self.options.iterations, self.options.faults)
        failed_setup = False
        try:
            self.chaos.start()
            self.logview = LogView(self.chaos.settings)
            self._warm_up()
            for step in steps:
                self._iteration(step)
        except BaseException:
            failed_setup = True
            raise
        finally:
            if self.logview is not None:
                self.logview.close()
            self.chaos.stop()
            data_dir = self.chaos.settings.data_dir
            keep = self.options.keep or bool(self.failed) or failed_setup
            if keep:
                print(f"chaos data and logs kept in {data_dir}", file=self.err, flush=True)
            elif self.options.data_dir is None:
                shutil.rmtree(data_dir, ignore_errors=True)
        reasons = decision_reasons(self.logview.contents.decisions) if self.logview else Counter()
        return Summary(len(steps), self.failed, {k: self.totals.get(k, 0) for k in COUNTERS},
                       reasons, set(self.chaos.started_pids), self.chaos.settings.data_dir)

    def _load(self, tag: str) -> Load:
        key = self.chaos.key()
        return Load(self.chaos.urls, key.api_key, key.secret,
                    seed=f"{self.options.seed}:{tag}", shape=self.options.shape)

    def _warm_up(self) -> None:
        """A few jobs before the first fault: engines warm, market data generated."""
        load = self._load("warm-up")
        load.start()
        self._wait(lambda: sum(c.status == 201 for c in load.creates) >= 2, 60.0)
        load.close()
        self._record(load)
        if not self._wait_quiet():
            raise RuntimeError("the chaos stack did not settle after its warm-up jobs")

    # ---- one iteration ----------------------------------------------------------------------
    def _iteration(self, step: Step) -> None:
        started = time.monotonic()
        load = self._load(str(step.iteration))
        load.start()
        time.sleep(step.moment_s)  # the seeded moment of the fault
        fault_began = time.monotonic()
        note = inject(self.chaos, step, self.crashloop_s)
        # While the log itself is down or a process frozen, nothing can be decided: the
        # outage adds to the running bound. A crash loop is no outage: it must end in time.
        outage_s = 0.0 if step.fault == ENGINE_CRASHLOOP else time.monotonic() - fault_began
        time.sleep(self.options.settle_s)  # load goes on against the recovered stack
        load.close()
        self._record(load)
        revived = self.chaos.revive()
        quiet = self._wait_quiet()
        violations = self._check(self.running_bound_s + outage_s)
        new = [v for v in violations if (v.kind, v.key) not in self.seen]
        self.seen.update((v.kind, v.key) for v in new)
        counts = count(new)
        self.totals.update(counts)
        answers = Counter(str(c.status or "none") for c in load.creates)
        verdict = "OK" if not new else "FAIL(" + ",".join(
            f"{k}={n}" for k, n in counts.items() if n) + ")"
        if new:
            self.failed.append(step.iteration)
        print(f"seed={self.options.seed} iteration={step.iteration} {step.describe()} "
              f"creates={len(load.creates)}[{_fmt(answers)}] cancels={len(load.cancels)} "
              f"quiet={'yes' if quiet else 'no'} seconds={time.monotonic() - started:.1f} "
              f"verdict={verdict}", file=self.out, flush=True)
        print(f"  iteration {step.iteration}: {note}"
              + (f"; revived {', '.join(revived)}" if revived else ""), file=self.err, flush=True)
        for v in new[:20]:
            print(f"  iteration {step.iteration}: {v}", file=self.err, flush=True)
        if len(new) > 20:
            print(f"  ... {len(new) - 20} more", file=self.err, flush=True)

    def _record(self, load: Load) -> None:
        self.creates.extend(load.creates)
        self.cancels.extend(load.cancels)

    # ---- quiet and checks ---------------------------------------------------------------------
    def _contents(self) -> LogContents:
        assert self.logview is not None
        return self.logview.refresh()

    def _is_quiet(self) -> bool:
        log_now = self._contents()
        # what an earlier iteration already reported (lost, stuck, undecided) is not waited for
        off = {key for _, key in self.seen}
        accepted_ids = set(accepted_by_job(log_now.events))
        ended = set(terminals_by_job(log_now.events))
        answered = {c.job_id for c in self.creates if c.status in (201, 202) and c.job_id}
        if not (accepted_ids - off) <= ended or not (answered - off) <= accepted_ids:
            return False
        if not log_now.decisions_topic_exists:
            return True  # nothing to wait for: check_inputs reports every input undecided
        decided = decided_keys(log_now)
        return all((m.topic, m.partition, m.offset) in decided
                   or input_key(m) in off for m in log_now.inputs)

    def _wait_quiet(self) -> bool:
        return self._wait(self._is_quiet, self.quiet_timeout_s)

    @staticmethod
    def _wait(condition: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if condition():
                    return True
            except Exception as exc:  # e.g. the broker still recovering: ask again
                log.info("chaos_wait_retry", error=str(exc))
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)  # poll interval of a condition with a deadline

    def _check(self, running_bound_s: float) -> list[Violation]:
        contents = self._contents()
        now_ms = int(time.time() * 1000)
        found, states = check(contents, self.creates, self.cancels, now_ms,
                              int(running_bound_s * 1000))
        for url in self.chaos.urls:
            found.extend(self._view_mismatches(url, states))
        return found

    def _view_mismatches(self, url: str, states: dict[str, JobState]) -> list[Violation]:
        """The API's view once it has caught up with the log (or as it is at the deadline)."""
        key = self.chaos.key()
        mismatches: list[Violation] = []

        def equal() -> bool:
            mismatches[:] = check_view(url, _all_jobs(url, key.api_key, key.secret), states)
            return not mismatches

        self._wait(equal, self.options.view_timeout_s)
        return mismatches


def _all_jobs(url: str, api_key: str, secret: str) -> dict[str, dict[str, Any]]:
    """Every job object an API instance serves, through its listing (the SDK's paging)."""
    client = Client(url, api_key, secret, timeout_s=10)
    try:
        return {job["id"]: job for job in client.iter_jobs()}
    finally:
        client.close()


def _fmt(answers: Counter[str]) -> str:
    return ",".join(f"{k}:{n}" for k, n in sorted(answers.items()))


def run_chaos(options: ChaosOptions, out: TextIO, err: TextIO) -> Summary:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    summary = Run(options, out, err).execute()
    print(summary.json_line(), file=out, flush=True)
    return summary
