"""Rebuild a jobs view from the log alone, and print or verify the log (audit replay)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from jobs import messages
from jobs.messages import Event, is_event
from pipai.kafka.codec import PoisonMessage, message_codec
from pipai.kafka.reader import read_topic
from pipai.settings import Settings
from pipai.topics import Topics
from projections.batch import ViewBatch
from projections.jobs_view import JobsView


def log_events(settings: Settings, job_id: str | None = None) -> Iterator[Event]:
    """The events of the log in partition order (one job's order is its partition's)."""
    codec = message_codec(settings, messages, publish=False)
    wanted = job_id.encode() if job_id else None
    for msg in read_topic(settings, Topics.for_prefix(settings.topic_prefix).events):
        if wanted is not None and msg.key() != wanted:
            continue
        try:
            message = codec.decode_message(msg)
        except PoisonMessage:
            continue
        if is_event(message):
            yield message


def rebuild(settings: Settings, path: Path, batch: int = 2000) -> JobsView:
    """A new view at `path` folded from `events` and `results` up to their current end."""
    if path.exists() and any(path.iterdir()):
        raise FileExistsError(f"{path} is not empty")
    view = JobsView(path)
    codec = message_codec(settings, messages, publish=False)
    topics = Topics.for_prefix(settings.topic_prefix)
    for topic in (topics.events, topics.results):
        pending = ViewBatch()
        for msg in read_topic(settings, topic):
            with contextlib.suppress(PoisonMessage):  # its offset still counts
                pending.add(msg, codec)
            if len(pending) >= batch:
                pending.write(view)
                pending = ViewBatch()
        pending.write(view)
    return view
