"""A sweep's state: what its events add up to (docs/api.md, "Sweeps"), and the ids that
tie a sweep to its children.

A sweep is an aggregate of its own on the same log as jobs: its events carry the sweep id
where a job's carry the job id (the envelope's `job_id` is the aggregate's id), so every
fold of the log (the orchestrator's table, the projection, replay and its audit) keys both
the same way and tells them apart by the id's prefix. A child is an ordinary job whose id
names its sweep and its index: `bt_{hex}_{index:06d}` for the sweep `sw_{hex}`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from jobs.metrics import Metrics
from jobs.statuses import TERMINAL

SWEEP_PREFIX = "sw_"
_CHILD = re.compile(r"^bt_([0-9a-f]{16})_(\d{6})$")


def is_sweep_id(aggregate_id: str) -> bool:
    return aggregate_id.startswith(SWEEP_PREFIX)


def child_job_id(sweep_id: str, index: int) -> str:
    """The id of the sweep's child `index` (zero-padded: ids sort in index order)."""
    return f"bt_{sweep_id[len(SWEEP_PREFIX):]}_{index:06d}"


def sweep_of(job_id: str) -> tuple[str, int] | None:
    """(sweep id, index) of a child job, None for a plain job."""
    found = _CHILD.match(job_id)
    if found is None:
        return None
    return SWEEP_PREFIX + found.group(1), int(found.group(2))


@dataclass(frozen=True, slots=True)
class SweepState:
    job_id: str = ""  # the sweep's id (the aggregate id every fold keys by)
    status: str | None = None
    seq: int = 0
    owner: str = ""
    config_json: str = ""  # the sweep request as submitted
    correlation_id: str = ""
    submitted_at: int | None = None
    started_at: int | None = None  # the first child finished (the view knows earlier)
    finished_at: int | None = None
    total: int = 0
    finished: int = 0  # a bit per child index whose terminal status the sweep has heard
    done: int = 0
    failed: int = 0
    cancelled: int = 0
    best_job_id: str | None = None
    best_index: int | None = None
    best_value: float | None = None
    best_metrics: Metrics | None = None
    since_best: int = 0  # children finished in a row without improving the best
    stopped_early: bool = False
    cancel_reason: str | None = None
    # walk-forward (jobs/walk_forward.py), per window: training children not heard yet,
    # and once they all are, the chosen training child's index (NO_CHOICE: none qualified)
    window_left: tuple[int, ...] = ()
    window_best: tuple[int | None, ...] = ()  # the best training child so far, by index
    window_value: tuple[float | None, ...] = ()
    window_chosen: tuple[int | None, ...] = ()  # None: not chosen yet
    idempotency_key: str | None = None
    request_hash: str | None = None
    command_ids: frozenset[str] = frozenset()

    @property
    def sweep_id(self) -> str:
        return self.job_id

    @property
    def exists(self) -> bool:
        return self.status is not None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def finished_count(self) -> int:
        return self.done + self.failed + self.cancelled

    def chose(self, window: int) -> bool:
        return bool(self.window_chosen) and self.window_chosen[window] is not None

    def heard(self, index: int) -> bool:
        return bool(self.finished >> index & 1)

    def unfinished(self) -> list[int]:
        """Child indexes whose terminal status the sweep has not heard yet."""
        bits = format(self.finished, "b")[::-1]  # one pass, not a shift per index
        return [i for i in range(self.total) if i >= len(bits) or bits[i] == "0"]
