"""The chaos schedule is a pure function of the seed."""

from __future__ import annotations

import pytest

from cli.chaos.schedule import (
    BROKER_RESTART,
    ENGINE_SIGKILL,
    FAULTS,
    ORCHESTRATOR_SIGKILL,
    TARGETS,
    component,
    schedule,
)


def test_same_seed_same_schedule_and_prefix_stable() -> None:
    assert schedule(7, 20) == schedule(7, 20)
    assert schedule(7, 5) == schedule(7, 20)[:5]  # more iterations never change earlier ones


def test_other_seed_other_schedule() -> None:
    assert schedule(7, 20) != schedule(8, 20)


def test_every_fault_and_target_is_drawn_in_a_long_run() -> None:
    steps = schedule(1, 500)
    assert {s.fault for s in steps} == set(FAULTS)
    for s in steps:
        assert s.target in TARGETS[component(s.fault)]
        assert 0.5 <= s.moment_s <= 4.0 and 1.0 <= s.pause_s <= 6.0
    assert {s.target for s in steps} == {t for ts in TARGETS.values() for t in ts}


def test_fixed_fault_cycle_keeps_seeded_moments() -> None:
    cycle = (ORCHESTRATOR_SIGKILL, ENGINE_SIGKILL, BROKER_RESTART)
    steps = schedule(3, 6, cycle)
    assert [s.fault for s in steps] == list(cycle) * 2
    assert [s.moment_s for s in steps] == [s.moment_s for s in schedule(3, 6)]


def test_unknown_fault_is_refused() -> None:
    with pytest.raises(ValueError):
        schedule(1, 3, ("meteor-strike",))

