"""Walk-forward windows of a sweep (issue 11): optimise on a training span, test the
winner on the span that follows, roll forward by a step.

Pure: a request's `walk_forward` block and the base config's `start`..`end` in, frozen
windows out. Window w trains on [start + w*step, start + w*step + train) and tests on
the `test` span right after it; windows are laid while the test span ends by `end`, so
none reads past the data the base config asked for. Children are laid out as in
`WalkForward.training_index` / `test_index`: the sweep's C combinations per window
first (window-major), then one test child per window.

The sweep decider (jobs/sweep_decider.py) runs the plan; engine/stitch.py joins the
test runs into one out-of-sample curve, which is why test spans may not overlap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_DURATION = re.compile(r"^([1-9][0-9]{0,5})([dh])$", re.ASCII)
_UNIT_MS = {"d": 86_400_000, "h": 3_600_000}
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$", re.ASCII)
_KEYS = ("train", "test", "step")
MAX_WINDOWS = 1_000


class WalkForwardError(ValueError):
    """A walk-forward block the sweep cannot be built from: `path` names the field."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True, slots=True)
class Window:
    """Spans in epoch ms, half-open: [train_start, train_end), [test_start, test_end)."""

    train_start: int
    train_end: int
    test_start: int
    test_end: int


@dataclass(frozen=True, slots=True)
class WalkForward:
    windows: tuple[Window, ...]
    combos: int  # the sweep's combinations, each run on every window's training span

    @property
    def training_children(self) -> int:
        return len(self.windows) * self.combos

    @property
    def total(self) -> int:
        """Every child: each window's training children and its one test child."""
        return self.training_children + len(self.windows)

    def training_index(self, window: int, combo: int) -> int:
        return window * self.combos + combo

    def test_index(self, window: int) -> int:
        return self.training_children + window

    def locate(self, index: int) -> tuple[int, int | None]:
        """(window, combination) of a training child; (window, None) of a test child."""
        if not 0 <= index < self.total:
            raise IndexError(f"child {index} of a walk-forward sweep of {self.total}")
        if index < self.training_children:
            return divmod(index, self.combos)
        return index - self.training_children, None


def duration_ms(value: Any, path: str) -> int:
    """`"180d"` or `"12h"` in milliseconds."""
    found = _DURATION.match(value) if isinstance(value, str) else None
    if found is None:
        raise WalkForwardError(path, 'must be a duration like "180d" or "12h"')
    return int(found.group(1)) * _UNIT_MS[found.group(2)]


def instant_ms(value: Any, path: str) -> int:
    if not isinstance(value, str) or not _INSTANT.match(value):
        raise WalkForwardError(path, "must be an ISO 8601 UTC timestamp like "
                                     "2025-01-01T00:00:00Z")
    try:
        moment = datetime.fromisoformat(value[:-1]).replace(tzinfo=UTC)
    except ValueError as exc:
        raise WalkForwardError(path, f"invalid date/time: {exc}") from None
    return int(moment.timestamp() * 1000)


def iso(ms: int) -> str:
    """Epoch ms as the API writes an instant (whole seconds: windows are d/h multiples)."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_walk_forward(block: Any, base: dict[str, Any], combos: int) -> WalkForward:
    """The windows of `block` over the base config's span; WalkForwardError names the
    first problem (an unknown key, a bad duration, a span too short for one window)."""
    if not isinstance(block, dict):
        raise WalkForwardError("walk_forward", "must be an object")
    for key in block:
        if key not in _KEYS:
            raise WalkForwardError(f"walk_forward.{key}", "unknown field")
    train, test, step = (duration_ms(block.get(k), f"walk_forward.{k}") for k in _KEYS)
    if step < test:
        raise WalkForwardError("walk_forward.step", "must be at least test: the test spans "
                                                    "may not overlap (they are stitched into "
                                                    "one out-of-sample curve)")
    start = instant_ms(base.get("start"), "base.start")
    end = instant_ms(base.get("end"), "base.end")
    windows: list[Window] = []
    at = start
    while at + train + test <= end:
        if len(windows) == MAX_WINDOWS:
            raise WalkForwardError("walk_forward.step",
                                   f"more than {MAX_WINDOWS} windows; take a longer step")
        windows.append(Window(at, at + train, at + train, at + train + test))
        at += step
    if not windows:
        raise WalkForwardError("walk_forward", f"train + test is longer than base.start.."
                                               f"base.end ({iso(start)}..{iso(end)})")
    return WalkForward(windows=tuple(windows), combos=combos)


def window_config(config: dict[str, Any], start_ms: int, end_ms: int) -> dict[str, Any]:
    """`config` (a child's, already its own copy) set to run on [start_ms, end_ms)."""
    return config | {"start": iso(start_ms), "end": iso(end_ms)}
