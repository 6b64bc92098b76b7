"""A short seeded chaos run in CI: its own stack, an orchestrator SIGKILL, an engine worker
SIGKILL and a broker restart under load; every invariant holds and no process is left."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import pytest

from cli.chaos.runner import ChaosOptions, run_chaos
from cli.chaos.schedule import BROKER_RESTART, ENGINE_SIGKILL, ORCHESTRATOR_SIGKILL

pytestmark = pytest.mark.integration

CI_FAULTS = (ORCHESTRATOR_SIGKILL, ENGINE_SIGKILL, BROKER_RESTART)


def _ours(pid: int, data_dir: Path) -> bool:
    """Is `pid` alive and one of the chaos stack's (a reused pid belongs to someone else)?"""
    try:
        os.kill(pid, 0)
        proc = Path(f"/proc/{pid}")
        seen = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
    except (ProcessLookupError, FileNotFoundError, PermissionError):
        return False
    return str(data_dir).encode() in seen


@pytest.mark.timeout(900)
def test_short_seeded_chaos_run_keeps_every_promise(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    data_dir = tmp_path / "chaos"
    summary = run_chaos(ChaosOptions(seed=1, iterations=3, faults=CI_FAULTS, data_dir=data_dir),
                        out, err)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4, out.getvalue()
    for line, fault in zip(lines[:3], CI_FAULTS, strict=True):
        assert line.startswith("seed=1 iteration=") and f" {fault} " in line, line
    result = json.loads(lines[-1])
    assert result["iterations"] == 3
    counters = {k: result[k] for k in ("lost", "duplicated", "stuck", "undecided_inputs",
                                       "false_503")}
    assert result["ok"] is True, (counters, err.getvalue()[-4000:])
    assert set(counters.values()) == {0}
    # it stopped its stack: none of the processes it started (broker included) is left
    assert summary.pids and not [pid for pid in summary.pids if _ours(pid, data_dir)]
    left = subprocess.run(["pgrep", "-f", str(data_dir)], capture_output=True, text=True)
    assert left.stdout.strip() == ""
