"""The promises of issue 8 as pure functions over what the log holds and what the API answered.

Nothing here asks the API what happened: `LogContents` is decoded from the topics
(`cli.chaos.logview`), the load's records are what each HTTP call answered. Each
check returns `Violation`s; `check` runs them all. The meaning of each counter is in
docs/architecture.md ("Chaos suite").
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from api.presenters import job_object
from jobs.audit import verify
from jobs.decider import JobState
from jobs.messages import (
    Event,
    InputDecided,
    JobAccepted,
    JobCancelled,
    JobFailed,
    JobRequeued,
    JobStarted,
    JobSucceeded,
)

TERMINAL_EVENTS = (JobSucceeded, JobFailed, JobCancelled)
# The counters of the final JSON line, in its order (the first five are issue 8's).
COUNTERS = ("lost", "duplicated", "stuck", "undecided_inputs", "false_503",
            "cancel_ignored", "gaps", "illegal", "view_mismatch", "decision_mismatch")


@dataclass(frozen=True)
class InputMessage:
    """One message of `commands` or `reports` (type "" and job_id "" if undecodable)."""

    topic: str
    partition: int
    offset: int
    type: str
    job_id: str


@dataclass
class LogContents:
    events: list[Event] = field(default_factory=list)  # in log order per partition
    inputs: list[InputMessage] = field(default_factory=list)
    decisions: list[InputDecided] = field(default_factory=list)
    decisions_topic_exists: bool = True


@dataclass(frozen=True)
class Create:
    """One POST /v1/backtest/jobs as sent and answered (status None: no answer)."""

    request_id: str  # X-Request-Id: the SubmitJob's and JobAccepted's correlation_id
    idempotency_key: str | None
    status: int | None
    job_id: str | None
    api: str = ""


@dataclass(frozen=True)
class Cancel:
    request_id: str
    job_id: str
    status: int | None
    api: str = ""


@dataclass(frozen=True)
class Violation:
    kind: str  # one of COUNTERS
    key: str  # what it is about (job id, input offset, request id): deduplicates across checks
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} {self.key}: {self.detail}"


def accepted_by_job(events: Iterable[Event]) -> dict[str, JobAccepted]:
    out: dict[str, JobAccepted] = {}
    for event in events:
        if isinstance(event, JobAccepted):
            out.setdefault(event.job_id, event)
    return out


def terminals_by_job(events: Iterable[Event]) -> dict[str, list[Event]]:
    """The distinct terminal events of each job (a (job_id, seq) repeated counts once)."""
    out: dict[str, dict[int, Event]] = defaultdict(dict)
    for event in events:
        if isinstance(event, TERMINAL_EVENTS):
            out[event.job_id].setdefault(event.seq, event)
    return {job_id: list(by_seq.values()) for job_id, by_seq in out.items()}


def check_creates(creates: Iterable[Create], events: list[Event]) -> list[Violation]:
    """201/202: the job is on the log (lost if not). 503: nothing it sent was accepted
    (false_503 if a JobAccepted carries its request id as correlation id)."""
    accepted = accepted_by_job(events)
    by_correlation = {e.correlation_id: e.job_id for e in accepted.values()}
    found: list[Violation] = []
    for create in creates:
        if create.status in (201, 202):
            if not create.job_id or create.job_id not in accepted:
                found.append(Violation("lost", create.job_id or create.request_id,
                                       f"answered {create.status} but no JobAccepted on the log"))
        elif create.status == 503 and create.request_id in by_correlation:
            found.append(Violation("false_503", create.request_id,
                                   f"answered 503 but job {by_correlation[create.request_id]} "
                                   "was accepted from it"))
    return found


def running_ms(events: Iterable[Event], now_ms: int) -> dict[str, int]:
    """How long each job has been `running`, summed over its attempts: from a JobStarted to
    the JobRequeued or terminal event that ends it (time queued for a worker is not
    running); a job still running counts until `now_ms`."""
    since: dict[str, int] = {}
    total: dict[str, int] = defaultdict(int)
    for event in events:
        if isinstance(event, JobStarted):
            since.setdefault(event.job_id, event.occurred_at)
            total[event.job_id] += 0
        elif isinstance(event, (JobRequeued, *TERMINAL_EVENTS)) and event.job_id in since:
            total[event.job_id] += event.occurred_at - since.pop(event.job_id)
    for job_id, started in since.items():
        total[job_id] += now_ms - started
    return dict(total)


def check_terminal(events: list[Event], now_ms: int, running_bound_ms: int) -> list[Violation]:
    """Every accepted job reaches exactly one terminal event, and none is running longer
    than the bound (heartbeat timeout x attempts, plus the slack the runner gives)."""
    found: list[Violation] = []
    terminals = terminals_by_job(events)
    for job_id in accepted_by_job(events):
        ends = terminals.get(job_id, [])
        if not ends:
            found.append(Violation("stuck", job_id, "accepted, no terminal event"))
        elif len(ends) > 1:
            found.append(Violation("duplicated", job_id, "terminal events at seqs "
                                   f"{sorted(e.seq for e in ends)}"))
    for job_id, ran in running_ms(events, now_ms).items():
        if ran > running_bound_ms:
            found.append(Violation("stuck", f"{job_id}/running",
                                   f"running {ran / 1000:.1f}s > bound "
                                   f"{running_bound_ms / 1000:.1f}s"))
    return found


def check_audit(events: list[Event]) -> tuple[list[Violation], dict[str, JobState]]:
    """`pipai replay --verify` (jobs.audit.verify): no (job_id, seq) twice, seqs
    gapless, every event a transition the state machine allows. Returns the replayed states."""
    report = verify(events)
    kinds = {"duplicate": "duplicated", "conflicting_duplicate": "duplicated", "gap": "gaps",
             "illegal_transition": "illegal"}
    found = [Violation(kinds[f.kind], f"{f.job_id}#{f.seq}", f"{f.kind}: {f.detail}")
             for f in report.findings]
    return found, {k: s for k, s in report.states.items() if isinstance(s, JobState)}


def check_cancels(cancels: Iterable[Cancel], events: list[Event]) -> list[Violation]:
    """A cancel answered 200 was decided as JobCancelled: the job must end cancelled."""
    terminals = terminals_by_job(events)
    found: list[Violation] = []
    for cancel in cancels:
        if cancel.status != 200:
            continue
        ends = terminals.get(cancel.job_id, [])
        if not any(isinstance(e, JobCancelled) for e in ends):
            kinds = [type(e).__name__ for e in ends] or ["no terminal event"]
            found.append(Violation("cancel_ignored", cancel.job_id,
                                   f"cancel answered 200, job ended with {', '.join(kinds)}"))
    return found


def decided_keys(log: LogContents) -> set[tuple[str, int, int]]:
    """(topic, partition, offset) of every input some InputDecided names."""
    return {(d.input_topic, d.input_partition, d.input_offset) for d in log.decisions}


def check_inputs(log: LogContents) -> list[Violation]:
    """Every message of `commands` and `reports` has at least one InputDecided (the same
    input may be decided again after a crash), and a decision that claims events names
    seqs the job really has on the log."""
    decided = decided_keys(log)
    seqs: dict[str, set[int]] = defaultdict(set)
    for event in log.events:
        seqs[event.job_id].add(event.seq)
    found: list[Violation] = []
    for d in log.decisions:
        if d.outcome == "events":
            missing = [s for s in d.event_seqs if s not in seqs.get(d.job_id, set())]
            if missing or not d.event_seqs:
                found.append(Violation(
                    "decision_mismatch", f"{d.input_topic}/{d.input_partition}@{d.input_offset}",
                    f"outcome events with seqs {list(d.event_seqs)}, not on the log: {missing}"))
    for m in log.inputs:
        if (m.topic, m.partition, m.offset) not in decided:
            why = "" if log.decisions_topic_exists else " (no decisions topic)"
            found.append(Violation("undecided_inputs", input_key(m),
                                   f"{m.type or 'undecodable'} of {m.job_id or '?'} has no "
                                   f"InputDecided{why}"))
    return found


def input_key(m: InputMessage) -> str:
    return f"{m.topic}/{m.partition}@{m.offset}"


def decision_reasons(decisions: Iterable[InputDecided]) -> Counter[str]:
    """How inputs were decided, one count per input (its last decision): events,
    ignored:<reason>, poison."""
    last: dict[tuple[str, int, int], InputDecided] = {}
    for d in decisions:
        last[(d.input_topic, d.input_partition, d.input_offset)] = d
    return Counter(d.outcome if d.outcome != "ignored" else f"ignored:{d.reason}"
                   for d in last.values())


def check_view(api: str, served: Mapping[str, Mapping[str, Any]],
               replayed: Mapping[str, JobState]) -> list[Violation]:
    """An API instance's job objects equal those of a fresh replay of the log."""
    found: list[Violation] = []
    expected = {job_id: job_object(s) for job_id, s in replayed.items() if s.exists}
    for job_id in sorted(set(expected) | set(served)):
        want, got = expected.get(job_id), served.get(job_id)
        if want != got:
            found.append(Violation("view_mismatch", f"{api}:{job_id}",
                                   f"replay {_short(want)} vs served {_short(got)}"))
    return found


def _short(job: Mapping[str, Any] | None) -> str:
    if job is None:
        return "absent"
    return f"{job.get('status')} progress={job.get('progress')}"


def check(log: LogContents, creates: Iterable[Create], cancels: Iterable[Cancel],
          now_ms: int, running_bound_ms: int) -> tuple[list[Violation], dict[str, JobState]]:
    """All log checks (the view check needs the API: `check_view`). Also returns the
    replayed job states."""
    audit, states = check_audit(log.events)
    found = [
        *check_creates(creates, log.events),
        *check_terminal(log.events, now_ms, running_bound_ms),
        *audit,
        *check_cancels(cancels, log.events),
        *check_inputs(log),
    ]
    return found, states


def count(violations: Iterable[Violation]) -> dict[str, int]:
    counts = Counter(v.kind for v in violations)
    return {name: counts.get(name, 0) for name in COUNTERS}
