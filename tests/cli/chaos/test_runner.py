"""The final JSON line of `pipai chaos`."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from cli.chaos.invariants import COUNTERS
from cli.chaos.runner import Summary


def test_final_line_starts_with_the_issue_counters() -> None:
    summary = Summary(3, [1], {k: 0 for k in COUNTERS}, Counter({"events": 5}), set(),
                      Path("/tmp"))
    line = json.loads(summary.json_line())
    assert list(line)[:7] == ["iterations", "ok", "lost", "duplicated", "stuck",
                              "undecided_inputs", "false_503"]
    assert line["ok"] is False and line["failed_iterations"] == [1]
    assert line["decisions"] == {"events": 5}
