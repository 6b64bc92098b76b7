"""The message codec without a broker: every message type round-trips, and anything
undecodable (garbage, a truncated record, a record the catalog rejects, a type the
caller did not expect) is one `PoisonMessage` that says where, never what bytes."""

from __future__ import annotations

import dataclasses
import typing
import uuid
from typing import Any

import pytest
from confluent_kafka import Message

from jobs import messages
from jobs.messages import MESSAGE_TYPES, JobAccepted, Metrics, RunBacktest
from pipai.kafka.codec import MessageCodec, PoisonLog, PoisonMessage
from schemas.codec import MAGIC, default_codec

MS = 1_700_000_000_123  # a Unix-millisecond time (timestamp-millis fields)
METRICS = Metrics(sharpe="1.25", sortino=None, calmar="0.5", max_drawdown="-0.1",
                  win_rate="0.6", profit_factor=None, cagr="0.02", expected_value="3.1",
                  total_trades=12, avg_trade_duration_seconds=3600)


def sample_value(name: str, hint: Any) -> Any:
    """A value of the field's type that survives Avro (uuids and times included)."""
    if hint in (Metrics, Metrics | None):
        return METRICS
    if hint in (list[str], list[str] | None):
        return ["a", "b"]
    if typing.get_origin(hint) is list:
        return [1, 2, 3]
    if hint in (str, str | None):
        return str(uuid.uuid4()) if name == "event_id" else f"{name}-value"
    if hint is bool:
        return True
    if hint in (int, int | None):
        return MS if name.endswith("_at") or name == "now" else 3
    if hint in (float, float | None):
        return 0.25
    if hint is bytes:
        return b"\x01\x00binary\xff"
    raise AssertionError(f"no sample for {name}: {hint}")


def sample(cls: type) -> Any:
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: sample_value(f.name, hints[f.name]) for f in dataclasses.fields(cls)})


@pytest.fixture(scope="module")
def codec() -> MessageCodec:
    return MessageCodec(default_codec(), messages)


@pytest.mark.parametrize("name", sorted(MESSAGE_TYPES))
def test_every_message_type_round_trips(codec: MessageCodec, name: str) -> None:
    message = sample(MESSAGE_TYPES[name])
    assert codec.decode(codec.encode(message)) == message


def test_optional_fields_round_trip_as_none(codec: MessageCodec) -> None:
    accepted = dataclasses.replace(sample(JobAccepted), idempotency_key=None, request_hash=None)
    assert codec.decode(codec.encode(accepted)) == accepted


@pytest.mark.parametrize("value", [
    None,
    b"",
    b"not avro at all",
    MAGIC + b"\x42" * 8 + b"\x00",  # framed, but a writer schema nobody knows
], ids=["tombstone", "empty", "garbage", "unknown-writer"])
def test_undecodable_bytes_are_poison_with_their_position(codec: MessageCodec,
                                                          value: bytes | None) -> None:
    with pytest.raises(PoisonMessage) as caught:
        codec.decode(value, "t.events", 4, 117)
    poison = caught.value
    assert (poison.topic, poison.partition, poison.offset) == ("t.events", 4, 117)
    assert poison.cause == "DecodeError"
    assert poison.reason


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95])
def test_a_truncated_record_is_poison(codec: MessageCodec, keep: float) -> None:
    whole = codec.encode(sample(JobAccepted))
    cut = whole[:max(len(MAGIC) + 8 + 1, int(len(whole) * keep))]
    with pytest.raises(PoisonMessage) as caught:
        codec.decode(cut)
    assert caught.value.cause == "DecodeError"


def test_the_reason_never_quotes_the_bytes(codec: MessageCodec) -> None:
    secret = "SECRET-PAYLOAD-" * 20
    framed = codec.encode(sample(RunBacktest))[:10] + secret.encode()  # known writer, bad body
    with pytest.raises(PoisonMessage) as caught:
        codec.decode(framed)
    assert "SECRET" not in caught.value.reason
    assert "SECRET" not in str(caught.value)


class RejectingCatalog:
    """A catalog that knows no record (a record newer than this process's classes)."""

    def to_record(self, message: Any) -> tuple[str, dict[str, Any]]:
        return messages.to_record(message)

    def from_record(self, name: str, record: dict[str, Any]) -> Any:
        raise KeyError(name)


def test_a_record_the_catalog_rejects_is_poison() -> None:
    codec = MessageCodec(default_codec(), RejectingCatalog())
    with pytest.raises(PoisonMessage) as caught:
        codec.decode(codec.encode(sample(RunBacktest)))
    assert caught.value.cause == "KeyError"


def test_decode_message_labels_the_poison_with_the_message_position(
        codec: MessageCodec) -> None:
    msg = Message(topic="t.work", partition=2, offset=9, value=b"garbage")
    with pytest.raises(PoisonMessage) as caught:
        codec.decode_message(msg)
    assert (caught.value.topic, caught.value.partition, caught.value.offset) == ("t.work", 2, 9)


def test_decode_as_accepts_the_type_and_calls_another_poison(codec: MessageCodec) -> None:
    item = sample(RunBacktest)
    assert codec.decode_as(RunBacktest, Message(topic="w", value=codec.encode(item))) == item
    other = Message(topic="w", partition=1, offset=3, value=codec.encode(sample(JobAccepted)))
    with pytest.raises(PoisonMessage) as caught:
        codec.decode_as(RunBacktest, other)
    assert caught.value.cause == "UnexpectedMessage"
    assert "JobAccepted" in caught.value.reason


class RecordingLogger:
    def __init__(self) -> None:
        self.warnings: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.warnings.append((event, fields))


def test_poison_log_counts_and_logs_each_skip_without_bytes() -> None:
    logger = RecordingLogger()
    poison_log = PoisonLog(logger, "poison_work_item_skipped")
    for offset in (5, 6):
        poison_log.skip(PoisonMessage("not an Avro record", "DecodeError", "t.work", 1, offset))
    assert poison_log.total == 2
    assert logger.warnings[-1] == ("poison_work_item_skipped", {
        "topic": "t.work", "partition": 1, "offset": 6, "error": "not an Avro record",
        "poison_total": 2})
