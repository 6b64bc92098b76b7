"""Rebuild a jobs view from the log alone, and print or verify the log (audit replay)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jobs.messages import BacktestResult, Event, from_record, is_event
from pipai.log_reader import read_topic
from pipai.schema_log import kafka_codec
from pipai.settings import Settings
from pipai.topics import Topics
from projections.jobs_view import JobsView
from schemas.codec import DecodeError


def log_events(settings: Settings, job_id: str | None = None) -> Iterator[Event]:
    """The events of the log in partition order (one job's order is its partition's)."""
    codec = kafka_codec(settings, publish=False)
    wanted = job_id.encode() if job_id else None
    for msg in read_topic(settings, Topics.for_prefix(settings.topic_prefix).events):
        if wanted is not None and msg.key() != wanted:
            continue
        try:
            message = from_record(*codec.decode(msg.value()))
        except (DecodeError, TypeError, KeyError):
            continue
        if is_event(message):
            yield message


def rebuild(settings: Settings, path: Path, batch: int = 2000) -> JobsView:
    """A new view at `path` folded from `events` and `results` up to their current end."""
    if path.exists() and any(path.iterdir()):
        raise FileExistsError(f"{path} is not empty")
    view = JobsView(path)
    codec = kafka_codec(settings, publish=False)
    topics = Topics.for_prefix(settings.topic_prefix)
    pending_events: list[Event] = []
    pending_results: list[tuple[str, int, bytes]] = []
    offsets: dict[tuple[str, int], int] = {}

    def flush() -> None:
        view.apply(pending_events, pending_results, offsets)
        pending_events.clear()
        pending_results.clear()
        offsets.clear()

    for topic in (topics.events, topics.results):
        for msg in read_topic(settings, topic):
            offsets[(msg.topic(), msg.partition())] = msg.offset() + 1
            try:
                message: Any = from_record(*codec.decode(msg.value()))
            except (DecodeError, TypeError, KeyError):
                continue
            if is_event(message):
                pending_events.append(message)
            elif isinstance(message, BacktestResult):
                pending_results.append((message.job_id, message.attempt,
                                        message.document_json.encode()))
            if len(offsets) and len(pending_events) + len(pending_results) >= batch:
                flush()
        flush()
    return view
