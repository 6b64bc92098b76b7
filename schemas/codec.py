"""Avro single-object encoding on fastavro, with writer->reader schema resolution.

Wire form (Avro spec, "Single object encoding"): 0xC3 0x01, the 8-byte
little-endian CRC-64-AVRO (Rabin) fingerprint of the writer schema's parsing
canonical form, then the Avro binary body. A reader looks the fingerprint up in
its `SchemaStore` to find the writer schema, and decodes into its own (reader)
schema of the same full name, so a field added with a default in a newer writer
never breaks an older reader, and an older writer's record gets the default.

One topic carries several record types: the record's full name, recovered from
the writer schema, says which.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint, to_parsing_canonical_form

MAGIC = b"\xc3\x01"
HEADER_LEN = 10
SCHEMA_DIR = Path(__file__).resolve().parent
NAMESPACE = "ai.pipai.backtest"


class DecodeError(ValueError):
    """Bytes that are not a record this reader can decode (a poison message)."""


def rabin_fingerprint(schema: dict[str, Any]) -> bytes:
    """8-byte little-endian CRC-64-AVRO fingerprint of a parsed schema."""
    canonical = to_parsing_canonical_form(schema)
    # fastavro's hex digest already lists the fingerprint's bytes little-endian first.
    return bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))


@dataclass(frozen=True)
class _Schema:
    name: str  # short record name, e.g. "JobAccepted"
    parsed: dict[str, Any]
    fp: bytes


class SchemaStore:
    """Reader schemas by name, and every known writer schema by fingerprint."""

    def __init__(self) -> None:
        self._readers: dict[str, _Schema] = {}
        self._writers: dict[bytes, _Schema] = {}

    def add(self, schema: dict[str, Any], reader: bool = True) -> _Schema:
        parsed = parse_schema(schema, _write_hint=False)
        if not isinstance(parsed, dict) or parsed.get("type") != "record":
            raise ValueError("each .avsc must hold one record schema")
        name = parsed["name"].rsplit(".", 1)[-1]
        entry = _Schema(name, parsed, rabin_fingerprint(parsed))
        self._writers[entry.fp] = entry
        if reader:
            self._readers[name] = entry
        return entry

    def add_directory(self, folder: Path) -> None:
        for path in sorted(folder.glob("*.avsc")):
            self.add(json.loads(path.read_text()))

    def reader(self, name: str) -> _Schema:
        try:
            return self._readers[name]
        except KeyError:
            raise KeyError(f"no schema named {name!r}") from None

    def writer(self, fp: bytes) -> _Schema:
        try:
            return self._writers[fp]
        except KeyError:
            raise DecodeError(f"unknown writer schema fingerprint {fp.hex()}") from None

    def schemas(self) -> list[dict[str, Any]]:
        return [entry.parsed for entry in self._writers.values()]


class Codec:
    def __init__(self, store: SchemaStore) -> None:
        self.store = store

    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        schema = self.store.reader(name)
        out = io.BytesIO()
        out.write(MAGIC)
        out.write(schema.fp)
        schemaless_writer(out, schema.parsed, record)
        return out.getvalue()

    def decode(self, data: bytes | None) -> tuple[str, dict[str, Any]]:
        """Return (record name, record), resolved into this reader's schema."""
        if data is None or len(data) < HEADER_LEN or data[:2] != MAGIC:
            raise DecodeError("not an Avro single-object encoded record")
        writer = self.store.writer(data[2:HEADER_LEN])
        try:
            reader = self.store.reader(writer.name)
        except KeyError:
            raise DecodeError(f"no reader schema for {writer.name}") from None
        try:
            record = schemaless_reader(io.BytesIO(data[HEADER_LEN:]), writer.parsed, reader.parsed)
        except Exception as exc:  # fastavro raises many types on corrupt bodies
            raise DecodeError(f"corrupt {writer.name} body: {exc}") from exc
        if not isinstance(record, dict):
            raise DecodeError(f"{writer.name} did not decode to a record")
        return writer.name, record


def default_codec() -> Codec:
    store = SchemaStore()
    store.add_directory(SCHEMA_DIR)
    return Codec(store)
