"""Avro single-object encoding on fastavro, with writer->reader schema resolution.

Wire form (Avro spec, "Single object encoding"): 0xC3 0x01, the 8-byte
little-endian CRC-64-AVRO (Rabin) fingerprint of the writer schema's parsing
canonical form, then the Avro binary body. A reader looks the fingerprint up in
its `SchemaStore` to find the writer schema, and decodes into its own (reader)
schema of the same full name, so a field added with a default in a newer writer
never breaks an older reader, and an older writer's record gets the default.

One topic carries several record types: the record's full name, recovered from
the writer schema, says which. A reader that meets a fingerprint it does not know
(a newer writer) asks its `resolve` hook for more writer schemas, at most once
per fingerprint per `RESOLVE_EVERY_S`; the Kafka side of that hook, a compacted
topic of writer schemas, is `pipai.schema_log`.

Named types are written once, in `schemas/types/` (the event envelope, the metrics), and
spliced in when a schema is loaded (`load_schema`): a type naming one gets its definition,
a field `{"include": "Envelope"}` gets its fields in its place. The spliced schema is the
flat record the wire always carried (same fingerprint, same bytes), and it is what the
store holds and publishes, so any reader can parse it alone.
"""

from __future__ import annotations

import copy
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint, to_parsing_canonical_form

MAGIC = b"\xc3\x01"
HEADER_LEN = 10
SCHEMA_DIR = Path(__file__).resolve().parent
NAMESPACE = "ai.pipai.backtest"
RESOLVE_EVERY_S = 10.0


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
    source: dict[str, Any]  # the schema as written (with defaults and docs), for sharing


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
        entry = _Schema(name, parsed, rabin_fingerprint(parsed), schema)
        self._writers[entry.fp] = entry
        if reader:
            self._readers[name] = entry
        return entry

    def add_directory(self, folder: Path) -> None:
        named = named_types(folder / "types")
        for path in sorted(folder.glob("*.avsc")):
            self.add(splice(json.loads(path.read_text()), named))

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

    def knows(self, fp: bytes) -> bool:
        return fp in self._writers

    def writer_schemas(self) -> dict[bytes, dict[str, Any]]:
        """Every known writer schema as written, by fingerprint."""
        return {fp: entry.source for fp, entry in self._writers.items()}


Resolver = Callable[[SchemaStore], None]


class Codec:
    def __init__(self, store: SchemaStore, resolve: Resolver | None = None) -> None:
        self.store = store
        self.resolve = resolve
        self._asked: dict[bytes, float] = {}  # fingerprint -> when resolve was last tried

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
        writer = self._writer(data[2:HEADER_LEN])
        try:
            reader = self.store.reader(writer.name)
        except KeyError:
            raise DecodeError(f"no reader schema for {writer.name}") from None
        try:
            # the same schema both sides (the usual case) needs no resolution pass
            resolved = None if reader.fp == writer.fp else reader.parsed
            record = schemaless_reader(io.BytesIO(data[HEADER_LEN:]), writer.parsed, resolved)
        except Exception as exc:  # fastavro raises many types on corrupt bodies
            raise DecodeError(f"corrupt {writer.name} body: {exc}") from exc
        if not isinstance(record, dict):
            raise DecodeError(f"{writer.name} did not decode to a record")
        return writer.name, record

    def record_name(self, data: bytes | None) -> str | None:
        """The record name of `data`'s writer schema, from its header alone (the body is
        not read); None for a value this codec cannot name. Lets a reader that wants one
        kind of record skip the others undecoded."""
        if data is None or len(data) < HEADER_LEN or data[:2] != MAGIC:
            return None
        try:
            return self._writer(data[2:HEADER_LEN]).name
        except DecodeError:
            return None

    def _writer(self, fp: bytes) -> _Schema:
        if not self.store.knows(fp) and self.resolve is not None:
            now = time.monotonic()
            if now - self._asked.get(fp, -RESOLVE_EVERY_S) >= RESOLVE_EVERY_S:
                # bounded: a poison message with a random fingerprint cannot cause a storm
                self._asked[fp] = now
                self.resolve(self.store)
        return self.store.writer(fp)


def named_types(folder: Path) -> dict[str, dict[str, Any]]:
    """The named types of `folder`, by short and by full name."""
    named: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.avsc")):
        schema = json.loads(path.read_text())
        full_name = f"{schema.get('namespace', NAMESPACE)}.{schema['name']}"
        named[schema["name"]] = named[full_name] = schema
    return named


def load_schema(name: str, folder: Path = SCHEMA_DIR) -> dict[str, Any]:
    """`folder/<name>.avsc` with its named types spliced in: the schema on the wire."""
    schema = json.loads((folder / f"{name}.avsc").read_text())
    return splice(schema, named_types(folder / "types"))


def splice(schema: dict[str, Any], named: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`schema` with every include and every first reference to a named type replaced by
    the type's definition (a later reference keeps the name, as Avro wants)."""
    return _spliced(copy.deepcopy(schema), named, set())


def _spliced(node: Any, named: dict[str, dict[str, Any]], defined: set[str]) -> Any:
    if isinstance(node, str):
        if node not in named or named[node]["name"] in defined:
            return node
        defined.add(named[node]["name"])
        return _spliced(copy.deepcopy(named[node]), named, defined)
    if isinstance(node, list):  # a union
        return [_spliced(branch, named, defined) for branch in node]
    if not isinstance(node, dict):
        return node
    if node.get("type") == "record":
        defined.add(node["name"])
        node["fields"] = [spliced for field in node["fields"]
                          for spliced in _field(field, named, defined)]
    for key in ("items", "values"):
        if key in node:
            node[key] = _spliced(node[key], named, defined)
    return node


def _field(field: dict[str, Any], named: dict[str, dict[str, Any]],
           defined: set[str]) -> list[dict[str, Any]]:
    # Avro has no include: the named record's fields stand in its place
    fields = named[field["include"]]["fields"] if "include" in field else [field]
    return [{**f, "type": _spliced(copy.deepcopy(f["type"]), named, defined)} for f in fields]


def default_codec() -> Codec:
    store = SchemaStore()
    store.add_directory(SCHEMA_DIR)
    return Codec(store)
