"""Avro single-object encoding: round trips, fingerprints, schema evolution, poison bytes."""

from __future__ import annotations

import json
import struct

import pytest

from jobs.messages import CancelJob, JobAccepted, from_record, to_record
from schemas.codec import (
    Codec,
    DecodeError,
    SchemaStore,
    default_codec,
    load_schema,
    rabin_fingerprint,
)

EMPTY = 0xC15D213AA4D7A795


def reference_rabin(data: bytes) -> int:
    """The CRC-64-AVRO algorithm exactly as written in the Avro specification."""
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (EMPTY & -(fp & 1))
        table.append(fp)
    fp = EMPTY
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


def test_fingerprint_matches_the_spec_algorithm() -> None:
    from fastavro.schema import to_parsing_canonical_form

    schema = load_schema("JobAccepted")
    store = SchemaStore()
    parsed = store.add(schema).parsed
    canonical = to_parsing_canonical_form(parsed).encode()
    assert rabin_fingerprint(parsed) == struct.pack("<Q", reference_rabin(canonical))


def test_every_message_round_trips() -> None:
    codec = default_codec()
    event = JobAccepted(event_id="5c3a7ca1-9b04-5dce-9347-62befea06fdd", job_id="bt_1", seq=1,
                        occurred_at=1_700_000_000_123,
                        causation_id="c", correlation_id="c", owner="alice",
                        config_json="{}", submitted_at=1_700_000_000_123)
    data = codec.encode(*to_record(event))
    assert data[:2] == b"\xc3\x01"
    assert from_record(*codec.decode(data)) == event


def _with_added_field(schema: dict) -> dict:
    newer = json.loads(json.dumps(schema))
    newer["fields"].append({"name": "priority", "type": "int", "default": 5})
    return newer


def test_old_reader_reads_newer_writer_with_added_defaulted_field() -> None:
    old_schema = load_schema("CancelJob")
    new_schema = _with_added_field(old_schema)
    writer_store = SchemaStore()
    writer_store.add(new_schema)
    newer_writer = Codec(writer_store)
    data = newer_writer.encode("CancelJob", {
        "command_id": "c1", "job_id": "bt_1", "owner": "o", "reason": "r",
        "issued_at": 1_700_000_000_000, "correlation_id": "c1", "priority": 9})
    # The old reader knows the newer writer schema (by fingerprint) but reads into its own.
    reader_store = SchemaStore()
    reader_store.add(old_schema)
    reader_store.add(new_schema, reader=False)
    name, record = Codec(reader_store).decode(data)
    assert name == "CancelJob"
    assert "priority" not in record
    assert from_record(name, record) == CancelJob(
        command_id="c1", job_id="bt_1", owner="o", issued_at=1_700_000_000_000,
        correlation_id="c1", reason="r")


def test_new_reader_fills_default_for_old_writer() -> None:
    old_schema = load_schema("CancelJob")
    new_schema = _with_added_field(old_schema)
    data = default_codec().encode("CancelJob", {
        "command_id": "c1", "job_id": "bt_1", "owner": "o", "reason": None,
        "issued_at": 1, "correlation_id": "c1"})
    store = SchemaStore()
    store.add(old_schema, reader=False)
    store.add(new_schema)
    _, record = Codec(store).decode(data)
    assert record["priority"] == 5


@pytest.mark.parametrize("data", [None, b"", b"garbage", b"\xc3\x01" + b"\x00" * 8 + b"x",
                                  b"\xc3\x01" + b"\xff" * 3])
def test_poison_bytes_raise_decode_error(data: bytes | None) -> None:
    with pytest.raises(DecodeError):
        default_codec().decode(data)


def test_a_record_is_named_from_its_header_alone() -> None:
    codec = default_codec()
    good = codec.encode(*to_record(CancelJob("c", "bt_1", "o", 1, "c", "why")))
    assert codec.record_name(good) == "CancelJob"
    assert codec.record_name(good[:10] + b"not an avro body") == "CancelJob"  # body unread
    for poison in (None, b"", b"garbage", b"\xc3\x01" + b"\x00" * 8 + b"x"):
        assert codec.record_name(poison) is None


def test_truncated_body_is_a_decode_error() -> None:
    codec = default_codec()
    good = codec.encode(*to_record(CancelJob("c", "bt_1", "o", 1, "c", "why")))
    with pytest.raises(DecodeError):
        codec.decode(good[:-4])


def test_unknown_writer_is_resolved_once_through_the_hook() -> None:
    old_schema = load_schema("CancelJob")
    new_schema = _with_added_field(old_schema)
    writer_store = SchemaStore()
    writer_store.add(new_schema)
    data = Codec(writer_store).encode("CancelJob", {
        "command_id": "c1", "job_id": "bt_1", "owner": "o", "reason": None,
        "issued_at": 1, "correlation_id": "c1", "priority": 1})
    calls: list[int] = []

    def resolve(store: SchemaStore) -> None:  # what pipai.schema_log does from the topic
        calls.append(1)
        store.add(new_schema, reader=False)

    reader = default_codec()
    reader.resolve = resolve
    assert reader.decode(data)[1]["job_id"] == "bt_1"
    assert reader.decode(data)[1]["job_id"] == "bt_1"
    assert len(calls) == 1  # known from then on


def test_unknown_fingerprints_do_not_cause_a_resolve_storm() -> None:
    calls: list[int] = []
    reader = default_codec()
    reader.resolve = lambda store: calls.append(1)
    poison = b"\xc3\x01" + b"\x42" * 8 + b"\x00"
    for _ in range(100):
        with pytest.raises(DecodeError):
            reader.decode(poison)
    assert len(calls) == 1
