"""JobState <-> bytes: the sets survive, and a state stored before a field existed loads."""

from __future__ import annotations

import orjson

from jobs.decider import JobState
from jobs.state_codec import dump_state, load_state
from jobs.statuses import RUNNING


def test_round_trip_keeps_command_and_run_ids() -> None:
    state = JobState(job_id="bt_1", status=RUNNING, seq=4, attempt=1, run_id="r2",
                     run_started_at=2500, run_ids=frozenset({"r1", "r2"}),
                     command_ids=frozenset({"c1"}))
    assert load_state(dump_state(state), "bt_1") == state


def test_a_state_stored_without_run_ids_loads_with_none_known() -> None:
    raw = orjson.dumps({"job_id": "bt_1", "status": RUNNING, "seq": 2, "attempt": 2,
                        "run_id": "r1", "command_ids": ["c1"]})
    state = load_state(raw, "bt_1")
    assert state.run_ids == frozenset() and state.runs_spent == 2
