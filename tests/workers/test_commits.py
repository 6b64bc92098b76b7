"""Work-item offsets are committed in order, each only once what it produced is on the log."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError

from workers.commits import NotAcknowledged, OrderedCommits

Pair = tuple[OrderedCommits, list[tuple[tuple[str, int], int]]]  # the commits, what they did


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def commits(clock: Clock) -> Pair:
    done: list[tuple[tuple[str, int], int]] = []
    return OrderedCommits(lambda p, o: done.append((p, o)), ack_timeout_s=30, clock=clock), done


def test_an_item_is_committed_once_closed_and_acknowledged(commits: Pair) -> None:
    c, done = commits
    ticket = c.open("work", 0, 7)
    report, result = c.expect(ticket), c.expect(ticket)
    report(None, None)
    result(None, None)
    assert done == []  # still running: more may be produced for it
    c.close(ticket)
    assert done == [(("work", 0), 8)]


def test_an_item_closed_before_its_acknowledgements_waits_for_them(commits: Pair) -> None:
    c, done = commits
    ticket = c.open("work", 0, 7)
    delivered = c.expect(ticket)
    c.close(ticket)
    assert done == [] and c.pending
    delivered(None, None)
    assert done == [(("work", 0), 8)] and not c.pending


def test_a_later_item_is_not_committed_past_an_unacknowledged_one(commits: Pair) -> None:
    c, done = commits
    first = c.open("work", 0, 7)
    slow = c.expect(first)
    c.close(first)
    second = c.open("work", 0, 8)
    c.expect(second)(None, None)
    c.close(second)
    other = c.open("work", 1, 3)  # another partition is not held back
    c.close(other)
    assert done == [(("work", 1), 4)]
    slow(None, None)
    assert done == [(("work", 1), 4), (("work", 0), 9)]  # both, in one commit


def test_a_failed_delivery_is_never_committed_and_stops_the_worker(commits: Pair) -> None:
    c, done = commits
    ticket = c.open("work", 0, 7)
    c.expect(ticket)(KafkaError(KafkaError._MSG_TIMED_OUT), None)
    c.close(ticket)
    assert done == []
    with pytest.raises(NotAcknowledged, match="not committing"):
        c.check()


def test_an_item_unacknowledged_too_long_stops_the_worker(commits: Pair, clock: Clock) -> None:
    c, done = commits
    ticket = c.open("work", 0, 7)
    c.expect(ticket)
    clock.now = 100.0  # a long job: its running time does not count
    c.close(ticket)
    clock.now = 129.0
    c.check()
    clock.now = 131.0
    with pytest.raises(NotAcknowledged, match="1 messages not acknowledged"):
        c.check()
    assert done == []


def test_an_abandoned_item_holds_its_partition_back(commits: Pair) -> None:
    c, done = commits
    c.open("work", 0, 7)  # shutting down mid-job: never closed
    later = c.open("work", 0, 8)
    c.close(later)
    assert done == []


def test_revoked_partitions_are_forgotten(commits: Pair) -> None:
    c, done = commits
    ticket = c.open("work", 0, 7)
    delivered = c.expect(ticket)
    c.forget([("work", 0)])
    c.close(ticket)
    delivered(None, None)
    assert done == [] and not c.pending
