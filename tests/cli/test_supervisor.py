"""The restart policy of `pipai run`, without processes: a fake clock and a recording log."""

from __future__ import annotations

from typing import Any

from cli.supervisor import Backoff, Supervisor


class RecordingLog:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def error(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))

    warning = error


def supervisor(**policy: float) -> tuple[Supervisor, RecordingLog]:
    log = RecordingLog()
    return Supervisor(Backoff(**policy), log=log), log


def crash_and_restart(sup: Supervisor, name: str, now: float, code: int = 1) -> float:
    """The component exits at `now`; return when the supervisor restarts it."""
    t = now
    while not sup.observe(name, code, t):
        t += 1 / 64  # exact in binary, so the gaps below compare exactly
    sup.restarting(name, t)
    return t


def test_delays_grow_exponentially_up_to_the_cap() -> None:
    policy = Backoff(initial_s=0.5, factor=2, max_s=10)
    assert [policy.delay(n) for n in range(1, 8)] == [0.5, 1, 2, 4, 8, 10, 10]


def test_a_running_component_is_left_alone() -> None:
    sup, log = supervisor()
    sup.started("engine-0", 0.0)
    assert not any(sup.observe("engine-0", None, t) for t in (0.0, 5.0, 500.0))
    assert log.lines == [] and sup.down() == []


def test_an_exit_is_logged_and_restarted_after_the_delay_not_before() -> None:
    sup, log = supervisor(initial_s=0.5)
    sup.started("broker", 0.0)
    assert sup.observe("broker", -9, 3.0) is False
    assert sup.down() == ["broker"]
    assert sup.observe("broker", -9, 3.49) is False
    assert sup.observe("broker", -9, 3.5) is True
    sup.restarting("broker", 3.5)
    assert sup.down() == []
    assert log.lines == [
        ("component_exited", {"component": "broker", "exit_code": -9, "attempt": 1,
                              "next_delay_s": 0.5, "ran_s": 3.0}),
        ("component_restarting", {"component": "broker", "attempt": 1}),
    ]


def test_a_crash_loop_backs_off_until_the_cap() -> None:
    sup, log = supervisor(initial_s=0.5, factor=2, max_s=4, reset_after_s=30)
    sup.started("orchestrator", 0.0)
    now, gaps = 1.0, []
    for _ in range(6):
        restarted = crash_and_restart(sup, "orchestrator", now)
        gaps.append(restarted - now)
        now = restarted + 0.125  # dies again right after it started
    assert gaps == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    exits = [f for e, f in log.lines if e == "component_exited"]
    assert [f["attempt"] for f in exits] == [1, 2, 3, 4, 5, 6]
    assert [f["next_delay_s"] for f in exits] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_a_healthy_run_resets_the_series() -> None:
    sup, log = supervisor(initial_s=0.5, factor=2, max_s=10, reset_after_s=30)
    sup.started("api", 0.0)
    t = crash_and_restart(sup, "api", 1.0)
    t = crash_and_restart(sup, "api", t + 1)
    t = crash_and_restart(sup, "api", t + 29.875)  # not quite healthy long enough: attempt 3
    crash_and_restart(sup, "api", t + 30.0)      # healthy for 30 s: a new series
    exits = [f for e, f in log.lines if e == "component_exited"]
    assert [(f["attempt"], f["next_delay_s"]) for f in exits] == [
        (1, 0.5), (2, 1.0), (3, 2.0), (1, 0.5)]


def test_a_failed_restart_is_retried_with_the_next_delay() -> None:
    sup, log = supervisor(initial_s=1, factor=2)
    sup.started("broker", 0.0)
    t = crash_and_restart(sup, "broker", 100.0, code=-9)
    sup.start_failed("broker", t, "OSError('port taken')")
    assert sup.observe("broker", -1, t + 1.99) is False
    assert sup.observe("broker", -1, t + 2.0) is True
    event, fields = log.lines[-1]
    assert event == "component_exited"
    assert fields["attempt"] == 2 and fields["next_delay_s"] == 2
    assert fields["error"] == "OSError('port taken')"


def test_components_are_independent() -> None:
    sup, _ = supervisor(initial_s=0.5)
    sup.started("engine-0", 0.0)
    sup.started("engine-1", 0.0)
    crash_and_restart(sup, "engine-0", 1.0)
    crash_and_restart(sup, "engine-0", 1.6)
    assert sup.observe("engine-1", 1, 2.0) is False
    assert sup.observe("engine-1", 1, 2.5) is True  # its first crash: the first delay
