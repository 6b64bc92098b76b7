"""When to restart a component of the stack that exited: the policy, without processes.

The caller (`cli.stack.Stack.supervise_once`) observes its processes and acts;
this module only decides and logs. A crash-looping component is restarted with
exponential backoff up to a cap, so it cannot spin the CPU or flood the log; a
component that ran healthily for `reset_after_s` starts again from the first delay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipai.log import get_logger


@dataclass(frozen=True)
class Backoff:
    initial_s: float = 0.5
    factor: float = 2.0
    max_s: float = 10.0
    # A run at least this long counts as healthy: the next crash starts the series again.
    reset_after_s: float = 30.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before restart number `attempt` of a series (1 = the first)."""
        return float(min(self.max_s, self.initial_s * self.factor ** (max(attempt, 1) - 1)))


@dataclass
class _Component:
    started_at: float
    attempt: int = 0  # restarts in the current series (since the last healthy run)
    restart_at: float | None = None  # set while the component is down: when to restart it


@dataclass
class Supervisor:
    policy: Backoff = field(default_factory=Backoff)
    log: Any = field(default_factory=lambda: get_logger("cli.supervisor"))
    _components: dict[str, _Component] = field(default_factory=dict)

    def started(self, name: str, now: float) -> None:
        """`name` was (re)started at `now`; its restart series, if any, goes on."""
        component = self._components.get(name)
        if component is None:
            self._components[name] = _Component(started_at=now)
        else:
            component.started_at, component.restart_at = now, None

    def observe(self, name: str, exit_code: int | None, now: float) -> bool:
        """Feed what was seen of `name` (exit_code None: it runs). True: restart it now."""
        component = self._components.setdefault(name, _Component(started_at=now))
        if component.restart_at is None:
            if exit_code is None:
                return False
            self._schedule(name, component, now, exit_code=exit_code)
        assert component.restart_at is not None
        return now >= component.restart_at

    def restarting(self, name: str, now: float) -> None:
        component = self._components.setdefault(name, _Component(started_at=now))
        self.log.warning("component_restarting", component=name, attempt=component.attempt)
        self.started(name, now)

    def start_failed(self, name: str, now: float, error: str) -> None:
        """A restart raised before the component ran: try again after the next delay."""
        component = self._components.setdefault(name, _Component(started_at=now))
        self._schedule(name, component, now, exit_code=None, error=error)

    def down(self) -> list[str]:
        """Components waiting for their restart."""
        return [name for name, c in self._components.items() if c.restart_at is not None]

    def forget(self, name: str) -> None:
        self._components.pop(name, None)

    def _schedule(self, name: str, component: _Component, now: float,
                  exit_code: int | None, error: str | None = None) -> None:
        ran_s = now - component.started_at
        if ran_s >= self.policy.reset_after_s:
            component.attempt = 0
        component.attempt += 1
        delay = self.policy.delay(component.attempt)
        component.restart_at = now + delay
        fields: dict[str, Any] = {"component": name, "exit_code": exit_code,
                                  "attempt": component.attempt, "next_delay_s": delay,
                                  "ran_s": round(ran_s, 3)}
        if error is not None:
            fields["error"] = error
        self.log.error("component_exited", **fields)
