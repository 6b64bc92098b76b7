"""The SDK keeps its own copy of the terminal statuses (it may not import the jobs domain,
tests/test_layers.py); this holds the copy to the domain's declaration."""

from __future__ import annotations

from jobs.statuses import TERMINAL
from pipai.client import TERMINAL as SDK_TERMINAL


def test_the_sdk_waits_for_exactly_the_domains_terminal_statuses() -> None:
    assert set(SDK_TERMINAL) == TERMINAL
