"""Gapless input: every offset of `commands` and `reports` reaches the decider.

faust drops records it has already fetched in several places — a partition
paused for table recovery or taken off the fetcher while its stream buffer is
full, a batch cut short by a generation change — and the fetcher's position has
moved on past them. When a later record of that partition arrives, faust records
the skipped offsets as a "gap" (meant for compacted topics and transaction
markers) and counts them as acknowledged, and its commit also steps over a
one-record hole at the head. So the orchestrator committed input offsets past
inputs it never saw: accepted jobs were lost without a trace
(docs/architecture.md, "Gapless input").

Our input topics are never compacted and never written in transactions, so their
offsets are contiguous: a record whose offset is above the next expected one
means records were dropped. `InputGaps` tracks, per input topic-partition, the
next offset the decider must see (starting from the group's committed offset at
assignment) and says what to do with each record: decide it, or skip it without
acknowledging it and seek back to the hole so that it is fetched again.

Pure: no faust, no Kafka.
"""

from __future__ import annotations

from enum import Enum

TP = tuple[str, int]

# after a seek, records already buffered past the hole keep arriving: one seek is
# enough unless the refetch itself was dropped, which only a new hole shows
RESEEK_AFTER_S = 1.0
# a hole with nothing after it shows no later record: if the fetcher has moved past the
# next expected offset and the decider has seen nothing of the partition for this long,
# the records were dropped (or are stuck) and are fetched again
STALL_AFTER_S = 2.0


class Verdict(Enum):
    DECIDE = "decide"
    SKIP = "skip"  # beyond a hole, a seek is already under way
    SEEK = "seek"  # beyond a hole: skip it and seek back to `expected(tp)`


class InputGaps:
    def __init__(self) -> None:
        self._next: dict[TP, int] = {}
        self._sought: dict[TP, float] = {}  # when we last sought back on this tp
        self._seen: dict[TP, float] = {}  # when the decider last saw a record of this tp
        self.holes = 0  # holes found (a counter for logs and tests)

    def start(self, tp: TP, offset: int, now: float) -> None:
        """The partition was (re)assigned: its first input is at `offset`."""
        self._next[tp] = offset
        self._sought.pop(tp, None)
        self._seen[tp] = now

    def forget(self, tp: TP) -> None:
        self._next.pop(tp, None)
        self._sought.pop(tp, None)
        self._seen.pop(tp, None)

    def expected(self, tp: TP) -> int | None:
        return self._next.get(tp)

    def stalled(self, tp: TP, position: int | None, now: float) -> bool:
        """True if records the decider never saw lie behind the fetch `position`: it is
        past the next expected offset and nothing of `tp` arrived for STALL_AFTER_S. The
        caller seeks back to `expected(tp)`; a false alarm only fetches records again."""
        expected = self._next.get(tp)
        if expected is None or position is None or position <= expected:
            return False
        if now - max(self._seen.get(tp, now), self._sought.get(tp, 0.0)) < STALL_AFTER_S:
            return False
        self._sought[tp] = now
        self.holes += 1
        return True

    def verdict(self, tp: TP, offset: int, now: float) -> Verdict:
        self._seen[tp] = now
        expected = self._next.get(tp)
        if expected is None or offset <= expected:
            # below: fetched again after a seek to the committed offset; the decider
            # is idempotent, so deciding it again is harmless
            self._next[tp] = offset + 1
            self._sought.pop(tp, None)
            return Verdict.DECIDE
        sought = self._sought.get(tp)
        if sought is not None and now - sought < RESEEK_AFTER_S:
            return Verdict.SKIP
        self._sought[tp] = now
        self.holes += 1
        return Verdict.SEEK
