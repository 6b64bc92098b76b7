"""One write to a JobsView: the events and results decoded from a run of consumed
messages, and the next offset of each partition they came from.

The offsets are stored in the same RocksDB write as what was read, so a view
resumes exactly where its content ends (docs/architecture.md, "Projection and API").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from confluent_kafka import Message

from jobs.decider import Aggregate
from jobs.messages import BacktestResult, EquityPage, Event, ResultPart, is_event
from pipai.kafka.codec import MessageCodec
from projections.jobs_view import JobsView


@dataclass
class ViewBatch:
    events: list[Event] = field(default_factory=list)
    results: list[tuple[str, int, bytes]] = field(default_factory=list)  # job, attempt, doc
    parts: list[ResultPart | EquityPage] = field(default_factory=list)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.events) + len(self.results) + len(self.parts)

    def add(self, msg: Message, codec: MessageCodec) -> None:
        """Take one consumed message. Its offset counts even when it is poison (the
        `PoisonMessage` is raised after), so the view never reads it again."""
        self.offsets[(str(msg.topic()), int(msg.partition() or 0))] = int(msg.offset() or 0) + 1
        message = codec.decode_message(msg)
        if is_event(message):
            self.events.append(message)
        elif isinstance(message, BacktestResult):
            self.results.append((message.job_id, message.attempt,
                                 message.document_json.encode()))
        elif isinstance(message, ResultPart | EquityPage):
            self.parts.append(message)

    def write(self, view: JobsView) -> list[Aggregate]:
        """Apply to `view`; the states the events changed."""
        return view.apply(self.events, self.results, self.offsets, self.parts)
