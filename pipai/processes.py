"""Child processes that die with their parent (PR_SET_PDEATHSIG) and stop cleanly."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    os.setsid()
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(module: str, env: dict[str, str], log_path: Path | None = None,
          args: list[str] | None = None) -> subprocess.Popen[bytes]:
    """`python -m module` in its own process group; output to log_path or inherited."""
    out = open(log_path, "ab") if log_path else None  # noqa: SIM115 (owned by the child)
    try:
        return subprocess.Popen(
            [sys.executable, "-m", module, *(args or [])],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            preexec_fn=die_with_parent,
        )
    finally:
        if out:
            out.close()


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    """SIGTERM the child's process group, then SIGKILL after timeout_s."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL at once (crash tests)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def free_port() -> int:
    """A TCP port free on loopback right now (tests and benchmarks)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
