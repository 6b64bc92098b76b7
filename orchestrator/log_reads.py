"""What every orchestrator runtime shares, faust or not: the reads of the log at
assignment (blocking confluent-kafka clients, run off the event loop), the clock,
and what to do when an effect did not reach the log."""

from __future__ import annotations

import asyncio
import os
import sys
import time

from orchestrator.ports import TP
from pipai.kafka.reader import committed_positions, read_partition
from pipai.log import get_logger
from pipai.settings import Settings

log = get_logger("orchestrator")


def exit_on_effect_failure(exc: BaseException) -> None:
    """The input's offset must not be committed: die now; the restart processes it again."""
    log.critical("effect_not_on_log", error=repr(exc))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(70)


class KafkaLogReader:
    """The blocking reads of `orchestrator.reconcile`, off the event loop."""

    def __init__(self, settings: Settings, events_topic: str, group: str) -> None:
        self._settings, self._events, self._group = settings, events_topic, group

    async def committed(self, tps: list[TP]) -> dict[TP, int]:
        return await asyncio.get_running_loop().run_in_executor(
            None, committed_positions, self._settings, self._group, tps)

    async def read_events(self, partition: int,
                          start: int) -> tuple[list[tuple[int, bytes]], int]:
        return await asyncio.get_running_loop().run_in_executor(
            None, read_partition, self._settings, self._events, partition, start)


class SystemClock:
    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def monotonic(self) -> float:
        return time.monotonic()
