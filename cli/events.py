"""`pipai events tail`: the event log read straight from Kafka, for a subscriber outside
the API (docs/api.md, "Events": reading the log yourself).

Each event is printed as one JSON line with its `partition` and `offset`, so a reader
that stops can go on exactly where it was with `--offsets P:O+1,...`; `--from TIME`
starts every partition at the first event appended at or after that time (the broker's
append time index). One job's events are in order in its partition, and `seq` is
gapless per job, so a reader can check it missed nothing.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from confluent_kafka import Consumer, TopicPartition

from api.presenters import parse_iso_ms
from jobs import messages
from jobs.messages import is_event
from pipai.kafka.clients import new_consumer
from pipai.kafka.codec import PoisonMessage, message_codec
from pipai.kafka.reader import ReadToEnd, topic_partitions, watermarks
from pipai.settings import Settings
from pipai.topics import Topics

events_app = typer.Typer(help="The event log, read from Kafka (an outside subscriber's view).",
                         no_args_is_help=True)
POLL_S = 0.5


def parse_offsets(text: str) -> dict[int, int]:
    """`"0:120,3:7"` -> {0: 120, 3: 7}; ValueError naming the bad part."""
    out: dict[int, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        partition, sep, offset = part.partition(":")
        if not sep or not partition.isdigit() or not offset.isdigit():
            raise ValueError(f"{part!r}: expected PARTITION:OFFSET, e.g. 0:120")
        out[int(partition)] = int(offset)
    if not out:
        raise ValueError("no PARTITION:OFFSET given")
    return out


def start_offsets(consumer: Consumer, topic: str, from_ms: int | None,
                  offsets: dict[int, int] | None) -> dict[tuple[str, int], int]:
    """Where each partition of `topic` starts: at `offsets` (unlisted ones from their
    beginning), at the first record appended at or after `from_ms`, or at the end."""
    parts = topic_partitions(consumer, [topic])
    marks = watermarks(consumer, parts)
    if offsets is not None:
        unknown = set(offsets) - {p for _, p in parts}
        if unknown:
            raise ValueError(f"{topic} has no partition {sorted(unknown)[0]}")
        return {tp: max(marks[tp][0], offsets.get(tp[1], marks[tp][0])) for tp in parts}
    if from_ms is None:
        return {tp: marks[tp][1] for tp in parts}
    found = consumer.offsets_for_times([TopicPartition(t, p, from_ms) for t, p in parts],
                                       timeout=30)
    # -1: nothing at or after the time; start at the end
    return {(tp.topic, tp.partition): tp.offset if tp.offset >= 0
            else marks[(tp.topic, tp.partition)][1] for tp in found}


def event_line(event: Any, partition: int, offset: int) -> str:
    return json.dumps({"partition": partition, "offset": offset,
                       "type": type(event).__name__, **dataclasses.asdict(event)},
                      default=_plain)


def _plain(value: Any) -> Any:
    return sorted(value) if isinstance(value, frozenset | set) else str(value)


@events_app.command("tail")
def tail(
    from_: Annotated[str | None, typer.Option(
        "--from", help="start at this time (ISO 8601, e.g. 2025-01-01T00:00:00Z)")] = None,
    offsets: Annotated[str | None, typer.Option(
        help="start at these offsets, PARTITION:OFFSET,... (unlisted: their beginning)")]
    = None,
    job: Annotated[str | None, typer.Option(help="only this job's (or sweep's) events")]
    = None,
    follow: Annotated[bool, typer.Option(help="keep waiting for new events; "
                                              "--no-follow stops at the end of now")] = True,
) -> None:
    """Print events as JSON lines, with their partition and offset (default: from now on)."""
    if from_ is not None and offsets is not None:
        raise typer.BadParameter("give --from or --offsets, not both")
    try:
        from_ms = parse_iso_ms(from_) if from_ is not None else None
        wanted = parse_offsets(offsets) if offsets is not None else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    settings = Settings.from_env()
    topic = Topics.for_prefix(settings.topic_prefix).events
    consumer = new_consumer(settings)
    try:
        try:
            starts = start_offsets(consumer, topic, from_ms, wanted)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        codec = message_codec(settings, messages, publish=False)
        key = job.encode() if job else None
        for msg in _messages(consumer, starts, follow):
            if key is not None and msg.key() != key:
                continue
            try:
                event = codec.decode_message(msg)
            except PoisonMessage:
                continue  # not for an outside reader; the orchestrator logs and counts it
            if is_event(event):
                typer.echo(event_line(event, int(msg.partition() or 0), int(msg.offset() or 0)))
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()


def _messages(consumer: Consumer, starts: dict[tuple[str, int], int],
              follow: bool) -> Iterator[Any]:
    if not follow:
        yield from ReadToEnd(consumer, starts)
        return
    consumer.assign([TopicPartition(t, p, o) for (t, p), o in starts.items()])
    while True:
        for msg in consumer.consume(num_messages=500, timeout=POLL_S):
            if msg.error() is None:
                yield msg
