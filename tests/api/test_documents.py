"""The read path's job objects (api/documents.py, api/presenters.py): rendered straight
from the stored record, the same JSON the response model writes, cached by the record's
own bytes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.documents import JobDocuments
from api.examples import BREAKOUT_CONFIG, GRID_CONFIG
from api.models import Job
from api.presenters import iso, job_document, job_object
from jobs.messages import JobFailed
from projections.jobs_view import JobsView
from tests.api.conftest import JobWriter

METRICS = {"sharpe": "1.25", "sortino": None, "calmar": "0.5", "max_drawdown": "-0.1",
           "win_rate": "0.5", "profit_factor": None, "cagr": "0.2", "expected_value": "3.1",
           "total_trades": 12, "avg_trade_duration_seconds": 3600}


@pytest.fixture
def view(tmp_path: Path) -> JobsView:
    view = JobsView(tmp_path / "view")
    writer = JobWriter(view)
    at = 1_767_225_600_000
    writer.accept("bt_queued", "alice", GRID_CONFIG, at)
    writer.accept("bt_running", "alice", BREAKOUT_CONFIG, at + 1)
    writer.start("bt_running", at + 1500)
    writer.progress("bt_running", at + 2500, 1 / 3)
    writer.accept("bt_done", "alice", {**GRID_CONFIG, "fee_bps": "4.5"}, at + 2)
    writer.start("bt_done", at + 3000)
    writer.succeed("bt_done", at + 9999, METRICS)
    writer.accept("bt_failed", "bob", GRID_CONFIG, at + 3)
    writer.start("bt_failed", at + 4000)
    writer.apply(JobFailed(event_id="e-f", job_id="bt_failed", seq=3, occurred_at=at + 5000,
                           causation_id="c", correlation_id="corr", attempt=1,
                           error_code="ENGINE_ERROR", error_message="boom"))
    return view


JOBS = ("bt_queued", "bt_running", "bt_done", "bt_failed")


@pytest.mark.parametrize("job_id", JOBS)
def test_the_document_is_what_the_response_model_writes(view: JobsView, job_id: str) -> None:
    state = view.get(job_id)
    assert state is not None
    raw = view.raw_record(job_id)
    assert raw is not None
    document = JobDocuments().rendered(raw).document
    modelled = Job.model_validate(job_object(state)).model_dump_json().encode()
    assert orjson.loads(document) == orjson.loads(modelled)
    assert document == orjson.dumps(job_document(orjson.loads(raw)))


@given(st.integers(min_value=0, max_value=253_402_300_799_999))  # up to 9999-12-31
def test_iso_is_the_strftime_form(ms: int) -> None:
    expected = dt.datetime.fromtimestamp(ms // 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert iso(ms) == expected.rjust(20, "0")


def test_a_hit_is_the_same_render_and_a_changed_record_renders_anew(tmp_path: Path) -> None:
    view = JobsView(tmp_path / "view")
    writer = JobWriter(view)
    writer.accept("bt_1", "alice", GRID_CONFIG, 1_767_225_600_000)
    documents = JobDocuments()
    first = view.raw_record("bt_1")
    assert first is not None
    rendered = documents.rendered(first)
    assert rendered.exists and rendered.owner == "alice"
    assert documents.rendered(bytes(first)) is rendered  # equal bytes: the same render
    writer.start("bt_1", 1_767_225_601_000)
    second = view.raw_record("bt_1")
    assert second is not None
    assert orjson.loads(documents.rendered(second).document)["status"] == "running"


def test_capacity_bounds_the_cache() -> None:
    documents = JobDocuments(capacity=2)
    records = [orjson.dumps({"job_id": f"bt_{i}", "status": None}) for i in range(3)]
    for raw in records:
        assert not documents.rendered(raw).exists
    assert list(documents._by_record) == records[1:]
