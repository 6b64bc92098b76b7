"""`pipai events tail`: its pure parts (the broker side is in
tests/integration/test_resumable_streams.py)."""

from __future__ import annotations

import json

import pytest

from cli.events import event_line, parse_offsets
from jobs.messages import JobCancelled


def test_offsets_parse_per_partition() -> None:
    assert parse_offsets("0:120, 3:7,") == {0: 120, 3: 7}


@pytest.mark.parametrize("text", ["", "0", "0:-1", "a:1", "0:1:2", ","])
def test_a_bad_offsets_spec_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_offsets(text)


def test_an_event_line_carries_where_it_was_read() -> None:
    event = JobCancelled(event_id="e", job_id="bt_1", seq=4, occurred_at=1_700_000_000_000,
                         causation_id="c", correlation_id="r", progress=0.5, reason="why")
    line = json.loads(event_line(event, 2, 41))
    assert line == {"partition": 2, "offset": 41, "type": "JobCancelled", "event_id": "e",
                    "job_id": "bt_1", "seq": 4, "occurred_at": 1_700_000_000_000,
                    "causation_id": "c", "correlation_id": "r", "progress": 0.5,
                    "reason": "why"}
