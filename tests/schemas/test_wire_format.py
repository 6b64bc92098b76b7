"""The wire format does not move: every message encodes to its golden bytes.

The entries of `wire_golden.json` for the messages of commit 154c0ef were made once by
encoding `samples.SAMPLES` / `SAMPLES_WITH_NULLS` with the schema JSON of
`git show 154c0ef:schemas/<Name>.avsc` (each record written out flat, before the named
types of `schemas/types/`); a message added later adds its own entry. The bytes include the
header, so a changed fingerprint fails here as surely as a changed body.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jobs.messages import MESSAGE_TYPES, from_record, to_record
from schemas.codec import Codec, SchemaStore, default_codec
from tests.schemas.samples import SAMPLES, SAMPLES_WITH_NULLS

GOLDEN: dict[str, str] = json.loads((Path(__file__).parent / "wire_golden.json").read_text())
CASES = [(f"{name}/set", m) for name, m in SAMPLES.items()] + [
    (f"{name}/null", m) for name, m in SAMPLES_WITH_NULLS.items()]


def test_every_message_has_a_sample_and_golden_bytes() -> None:
    assert set(SAMPLES) == set(MESSAGE_TYPES)
    new = {case: default_codec().encode(*to_record(message)).hex()
           for case, message in CASES if case not in GOLDEN}
    assert not new, f"a new message: once its schema is right, add to wire_golden.json {new}"
    assert set(GOLDEN) == {case for case, _ in CASES}


@pytest.mark.parametrize(("case", "message"), CASES, ids=[case for case, _ in CASES])
def test_message_encodes_to_its_golden_bytes(case: str, message: Any) -> None:
    codec = default_codec()
    data = codec.encode(*to_record(message))
    assert data.hex() == GOLDEN.get(case)
    assert from_record(*codec.decode(data)) == message


def test_published_writer_schemas_stand_alone() -> None:
    """The schema log publishes the spliced schemas: a reader that knows none of the named
    types (an older deployment) parses each alone, under the same fingerprint."""
    writers = default_codec().store.writer_schemas()
    for fp, schema in writers.items():
        assert "include" not in json.dumps(schema)
        assert SchemaStore().add(schema).fp == fp
    reader = SchemaStore()
    for schema in writers.values():
        reader.add(schema)
    for case, message in CASES:
        assert from_record(*Codec(reader).decode(bytes.fromhex(GOLDEN[case]))) == message
