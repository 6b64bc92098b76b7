"""Write-behind of job states: stored only once every effect of the input is on the log."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from orchestrator.pending import PendingStates
from tests.orchestrator.fakes import run, settle


@dataclass
class Meta:
    offset: int


class Harness:
    def __init__(self) -> None:
        self.stored: list[tuple[str, str]] = []
        self.failures: list[BaseException] = []
        self.pending: PendingStates[str] = PendingStates(
            lambda job, state, _token: self.stored.append((job, state)), self.failures.append)


def futures(n: int) -> list[asyncio.Future[Any]]:
    loop = asyncio.get_running_loop()
    return [loop.create_future() for _ in range(n)]


@run
async def test_state_waits_for_every_effect() -> None:
    h = Harness()
    events, work = futures(2), futures(1)
    h.pending.add("j", "running", None, 0, events, work)
    assert h.pending.get("j") == "running"
    events[0].set_result(Meta(10))
    events[1].set_result(Meta(11))
    await settle()
    assert h.stored == []  # the work item is not on the log yet
    assert h.pending.floor(0) == 10  # the watermark must not pass the acked events
    work[0].set_result(Meta(3))
    await settle()
    assert h.stored == [("j", "running")]
    assert h.pending.get("j") is None and h.pending.floor(0) is None and len(h.pending) == 0


@run
async def test_newer_version_is_not_stored_before_an_older_one() -> None:
    h = Harness()
    first, second = futures(1), futures(1)
    h.pending.add("j", "queued", None, 1, first, [])
    h.pending.add("j", "running", None, 1, second, [])
    second[0].set_result(Meta(8))
    await settle()
    assert h.stored == [] and h.pending.get("j") == "running"
    first[0].set_result(Meta(7))
    await settle()
    assert h.stored == [("j", "running")]  # both acknowledged: the newest is stored once


@run
async def test_failed_effect_is_reported_and_state_never_stored() -> None:
    h = Harness()
    events = futures(1)
    h.pending.add("j", "queued", None, 0, events, [])
    events[0].set_exception(RuntimeError("broker said no"))
    await settle()
    assert h.stored == []
    assert [str(e) for e in h.failures] == ["broker said no"]


@run
async def test_watched_effect_failure_is_reported() -> None:
    h = Harness()
    (decision,) = futures(1)
    h.pending.watch(decision)
    decision.cancel()
    await settle()
    assert len(h.failures) == 1


@pytest.mark.parametrize("partition", [0, 3])
@run
async def test_floor_is_per_partition(partition: int) -> None:
    h = Harness()
    a, b = futures(2), futures(2)
    h.pending.add("a", "x", None, 0, a[:1], a[1:])
    h.pending.add("b", "y", None, 3, b[:1], b[1:])
    a[0].set_result(Meta(5))
    b[0].set_result(Meta(9))
    await settle()
    assert h.pending.floor(partition) == {0: 5, 3: 9}[partition]
    assert h.pending.floor(1) is None
