"""A ViewBatch without a broker: events and results decoded from consumed messages go to
the view in one write, and a poison message's offset counts so it is never read again."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import Message

from jobs import messages
from jobs.messages import BacktestResult, JobAccepted, event_id_for
from pipai.kafka.codec import MessageCodec, PoisonMessage
from projections.batch import ViewBatch
from projections.jobs_view import JobsView
from schemas.codec import default_codec

CODEC = MessageCodec(default_codec(), messages)


def accepted(job_id: str) -> JobAccepted:
    return JobAccepted(event_id=event_id_for(job_id, 1), job_id=job_id, seq=1,
                       occurred_at=1_700_000_000_000, causation_id="c", correlation_id="c",
                       owner="alice", config_json='{"template_id": "tpl_grid"}',
                       submitted_at=1_700_000_000_000)


def test_events_results_and_offsets_go_to_the_view_together(tmp_path: Path) -> None:
    view = JobsView(tmp_path / "view")
    batch = ViewBatch()
    batch.add(Message(topic="t.events", partition=1, offset=4,
                      value=CODEC.encode(accepted("bt_1"))), CODEC)
    result = BacktestResult(job_id="bt_1", attempt=1, document_json='{"ok": true}')
    batch.add(Message(topic="t.results", partition=1, offset=0, value=CODEC.encode(result)),
              CODEC)
    assert len(batch) == 2
    changed = batch.write(view)
    assert [state.job_id for state in changed] == ["bt_1"]
    assert view.result("bt_1", 1) == b'{"ok": true}'
    assert view.offsets("t.events") == {1: 5}
    assert view.offsets("t.results") == {1: 1}
    view.close()


def test_a_poison_message_is_raised_but_its_offset_counts(tmp_path: Path) -> None:
    view = JobsView(tmp_path / "view")
    batch = ViewBatch()
    with pytest.raises(PoisonMessage):
        batch.add(Message(topic="t.events", partition=0, offset=9, value=b"junk"), CODEC)
    assert len(batch) == 0
    batch.write(view)
    assert view.offsets("t.events") == {0: 10}
    view.close()
