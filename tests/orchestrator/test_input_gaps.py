"""Gapless input: a record past a hole is skipped and the hole fetched again."""

from __future__ import annotations

from orchestrator.input_gaps import RESEEK_AFTER_S, STALL_AFTER_S, InputGaps, Verdict

TP = ("pipai.backtest.commands", 3)


def test_contiguous_records_are_decided() -> None:
    gaps = InputGaps()
    gaps.start(TP, 10, 0.0)
    assert [gaps.verdict(TP, o, 0.0) for o in (10, 11, 12)] == [Verdict.DECIDE] * 3
    assert gaps.expected(TP) == 13 and gaps.holes == 0


def test_a_hole_at_the_head_is_sought_back_and_refilled() -> None:
    gaps = InputGaps()
    gaps.start(TP, 10, 0.0)  # the committed offset: records 10 and 11 were dropped by faust
    assert gaps.verdict(TP, 12, 0.0) is Verdict.SEEK
    assert gaps.expected(TP) == 10
    # records already buffered past the hole arrive before the refetch: skipped, one seek
    assert gaps.verdict(TP, 13, 0.1) is Verdict.SKIP
    assert [gaps.verdict(TP, o, 0.2) for o in (10, 11, 12, 13)] == [Verdict.DECIDE] * 4
    assert gaps.holes == 1


def test_a_refetch_dropped_again_is_sought_again_after_a_while() -> None:
    gaps = InputGaps()
    gaps.start(TP, 5, 0.0)
    assert gaps.verdict(TP, 9, 0.0) is Verdict.SEEK
    assert gaps.verdict(TP, 9, RESEEK_AFTER_S / 2) is Verdict.SKIP
    assert gaps.verdict(TP, 9, RESEEK_AFTER_S + 0.1) is Verdict.SEEK
    assert gaps.holes == 2


def test_records_below_the_expected_offset_are_decided_again() -> None:
    gaps = InputGaps()
    gaps.start(TP, 20, 0.0)
    assert gaps.verdict(TP, 20, 0.0) is Verdict.DECIDE
    assert gaps.verdict(TP, 15, 0.0) is Verdict.DECIDE  # faust sought back to committed
    assert gaps.expected(TP) == 16


def test_unknown_partitions_and_reassignment() -> None:
    gaps = InputGaps()
    assert gaps.verdict(TP, 7, 0.0) is Verdict.DECIDE  # nothing known: take it as the start
    gaps.forget(TP)
    assert gaps.expected(TP) is None
    gaps.start(TP, 3, 0.0)
    assert gaps.verdict(TP, 4, 0.0) is Verdict.SEEK


def test_a_hole_with_nothing_after_it_is_found_by_the_fetch_position() -> None:
    gaps = InputGaps()
    gaps.start(TP, 133, 0.0)  # faust dropped record 133; no later record comes to show it
    assert not gaps.stalled(TP, 134, STALL_AFTER_S / 2)  # too soon: it may be on its way
    assert not gaps.stalled(TP, 133, STALL_AFTER_S + 1)  # the fetcher is not past it
    assert gaps.stalled(TP, 134, STALL_AFTER_S + 1)
    assert not gaps.stalled(TP, 134, STALL_AFTER_S + 1.5)  # just sought: give it time
    assert gaps.verdict(TP, 133, STALL_AFTER_S + 2) is Verdict.DECIDE
    assert not gaps.stalled(TP, 134, 2 * STALL_AFTER_S + 10)  # caught up
