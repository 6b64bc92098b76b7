"""Bytes on a topic <-> domain messages, with one error for anything undecodable.

`MessageCodec` wraps the Avro codec of `schemas.codec` (writer schemas resolved
from the schemas topic, `pipai.schema_log`) and a message catalog: the module or
object that turns a record into its domain message and back (`jobs.messages`).
The catalog is passed in rather than imported, because this plumbing sits below
the jobs domain (docs/architecture.md, "Kafka adapters").

Whatever the reason a value cannot become a message (not Avro, unknown or corrupt
writer schema, a record the catalog rejects, a type the caller did not expect),
decoding raises `PoisonMessage`, which says where the value was and why in words,
never with the value's bytes. `PoisonLog` is the common "log, count and skip".
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from confluent_kafka import Message

from pipai.schema_log import kafka_codec
from pipai.settings import Settings
from schemas.codec import Codec, DecodeError

T = TypeVar("T")
REASON_CHARS = 200  # a reason quotes a library's error text, which we do not control


class MessageCatalog(Protocol):
    """Record <-> domain message, as `jobs.messages` declares them."""

    def to_record(self, message: Any) -> tuple[str, dict[str, Any]]: ...

    def from_record(self, name: str, record: dict[str, Any]) -> Any: ...


class PoisonMessage(Exception):
    """A value that is not a message this process can handle (logged and skipped)."""

    def __init__(self, reason: str, cause: str, topic: str = "", partition: int = -1,
                 offset: int = -1) -> None:
        self.reason = reason[:REASON_CHARS]
        super().__init__(self.reason)
        self.cause = cause  # the failing step's error type, e.g. "DecodeError", "TypeError"
        self.topic = topic
        self.partition = partition
        self.offset = offset


class MessageCodec:
    def __init__(self, records: Codec, catalog: MessageCatalog) -> None:
        self.records = records
        self.catalog = catalog

    def encode(self, message: Any) -> bytes:
        return self.records.encode(*self.catalog.to_record(message))

    def decode(self, value: bytes | None, topic: str = "", partition: int = -1,
               offset: int = -1) -> Any:
        """The domain message in `value`; `topic`/`partition`/`offset` only label a poison."""
        try:
            return self.catalog.from_record(*self.records.decode(value))
        except (DecodeError, TypeError, KeyError) as exc:
            # TypeError/KeyError: a record the catalog has no class for, or fields it rejects
            raise PoisonMessage(str(exc), type(exc).__name__, topic, partition, offset) from None

    def decode_message(self, msg: Message) -> Any:
        """Decode a consumed confluent-kafka message."""
        return self.decode(msg.value(), str(msg.topic()), _int(msg.partition()),
                           _int(msg.offset()))

    def decode_as(self, cls: type[T], msg: Message) -> T:
        """Decode a consumed message that must be a `cls` (anything else is poison)."""
        message = self.decode_message(msg)
        if not isinstance(message, cls):
            raise PoisonMessage(f"unexpected {type(message).__name__} on {msg.topic()}",
                                "UnexpectedMessage", str(msg.topic()), _int(msg.partition()),
                                _int(msg.offset()))
        return message


def _int(value: int | None) -> int:
    return -1 if value is None else value


def message_codec(settings: Settings, catalog: MessageCatalog,
                  publish: bool = True) -> MessageCodec:
    """The codec of a Kafka process: the bundled schemas, published when `publish` (a
    process that writes), and writers it does not know resolved from the schemas topic."""
    return MessageCodec(kafka_codec(settings, publish=publish), catalog)


class PoisonLog:
    """Log and count the poison messages a process skips."""

    def __init__(self, logger: Any, event: str = "poison_message_skipped") -> None:
        self.logger = logger
        self.event = event
        self.total = 0

    def skip(self, poison: PoisonMessage) -> None:
        self.total += 1
        self.logger.warning(self.event, topic=poison.topic, partition=poison.partition,
                            offset=poison.offset, error=poison.reason, poison_total=self.total)
