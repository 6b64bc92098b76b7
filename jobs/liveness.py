"""Which running attempts have gone silent (pure; the clock comes in as an argument).

The orchestrator tells the tracker about every state it stores and every report it
hears; a timer asks for the attempts silent for longer than the heartbeat timeout.
After a restart or a rebalance the tracker is re-seeded from the table, and every
running job it did not know gets a full timeout from that moment (a grace period:
its worker may well be alive).
"""

from __future__ import annotations

from collections.abc import Iterable

from jobs.state import JobState
from jobs.statuses import RUNNING


class LivenessTracker:
    def __init__(self, timeout_ms: int) -> None:
        self.timeout_ms = timeout_ms
        self._running: dict[str, tuple[int, int]] = {}  # job_id -> (attempt, last heard ms)

    def observe(self, state: object, now_ms: int, heard: bool) -> None:
        """A job's state (a sweep's is not a run: it has no worker to fall silent)."""
        if not isinstance(state, JobState):
            return
        if state.status != RUNNING:
            self._running.pop(state.job_id, None)
            return
        known = self._running.get(state.job_id)
        if heard or known is None or known[0] != state.attempt:
            self._running[state.job_id] = (state.attempt, now_ms)

    def reseed(self, states: Iterable[object], now_ms: int) -> None:
        running = {s.job_id: s for s in states
                   if isinstance(s, JobState) and s.status == RUNNING}
        fresh: dict[str, tuple[int, int]] = {}
        for job_id, s in running.items():
            known = self._running.get(job_id)  # kept while the same attempt runs
            fresh[job_id] = known if known and known[0] == s.attempt else (s.attempt, now_ms)
        self._running = fresh

    def silent(self, now_ms: int) -> list[tuple[str, int]]:
        """Attempts silent for the timeout; each is reported once per timeout."""
        found = []
        for job_id, (attempt, heard) in self._running.items():
            if now_ms - heard >= self.timeout_ms:
                found.append((job_id, attempt))
                self._running[job_id] = (attempt, now_ms)
        return found

    def __len__(self) -> int:
        return len(self._running)
