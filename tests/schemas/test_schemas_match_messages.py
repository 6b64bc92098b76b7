"""Every `.avsc` in schemas/ matches its dataclass in jobs/ field by field: the same names,
the same types (Avro's `int`/`long` and their logical types are Python's `int`, a
`["null", X]` union is `X | None`, a record is its dataclass), the same defaults. Field
order is the schema's alone (a dataclass puts defaulted fields last), so it is not compared.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any

import pytest

from jobs.messages import MESSAGE_TYPES
from schemas.codec import SCHEMA_DIR, load_schema

AVRO_TO_PYTHON = {"string": "str", "int": "int", "long": "int", "double": "float",
                  "float": "float", "boolean": "bool", "null": "None"}


def avro_type(avro: Any) -> str:
    """An Avro type as the Python annotation it maps to."""
    if isinstance(avro, str):
        return AVRO_TO_PYTHON.get(avro, avro)
    if isinstance(avro, list):
        branches = [avro_type(branch) for branch in avro]
        return " | ".join(sorted(branches, key=lambda b: b == "None"))  # None last
    if avro["type"] == "array":
        return f"list[{avro_type(avro['items'])}]"
    if avro["type"] == "record":
        return str(avro["name"])
    return avro_type(avro["type"])  # a logical type: its underlying type


def python_type(hint: Any) -> str:
    if isinstance(hint, types.UnionType):
        return " | ".join(python_type(arg) for arg in typing.get_args(hint))
    if typing.get_origin(hint) is list:
        return f"list[{python_type(typing.get_args(hint)[0])}]"
    return "None" if hint is type(None) else str(hint.__name__)


def mismatches(cls: type, schema: dict[str, Any], where: str = "") -> list[str]:
    """How `cls` and the record `schema` differ; empty when they match."""
    hints = typing.get_type_hints(cls)
    ours = {f.name: f for f in dataclasses.fields(cls)}
    theirs = {f["name"]: f for f in schema["fields"]}
    found = [f"{where}{name}: only in the schema" for name in theirs.keys() - ours.keys()]
    found += [f"{where}{name}: only in {cls.__name__}" for name in ours.keys() - theirs.keys()]
    for name in ours.keys() & theirs.keys():
        found += _field_mismatches(hints[name], ours[name], theirs[name], f"{where}{name}")
    return found


def _field_mismatches(hint: Any, ours: dataclasses.Field[Any], theirs: dict[str, Any],
                      where: str) -> list[str]:
    found = []
    if python_type(hint) != avro_type(theirs["type"]):
        found.append(f"{where}: {python_type(hint)} vs {avro_type(theirs['type'])}")
    default = ours.default if ours.default is not dataclasses.MISSING else "(none)"
    if default != theirs.get("default", "(none)"):
        found.append(f"{where}: default {default!r} vs {theirs.get('default', '(none)')!r}")
    if dataclasses.is_dataclass(hint) and isinstance(theirs["type"], dict):
        found += mismatches(hint, theirs["type"], f"{where}.")  # type: ignore[arg-type]
    return found


SCHEMA_NAMES = sorted(path.stem for path in SCHEMA_DIR.glob("*.avsc"))


def test_every_schema_has_a_message_class_and_back() -> None:
    assert sorted(MESSAGE_TYPES) == SCHEMA_NAMES


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schema_matches_its_dataclass(name: str) -> None:
    assert mismatches(MESSAGE_TYPES[name], load_schema(name)) == []


# ---- the check itself fails when one side drifts --------------------------------------

def _drifted(record: str, field: str, **change: Any) -> dict[str, Any]:
    schema = copy.deepcopy(load_schema(record))
    next(f for f in schema["fields"] if f["name"] == field).update(change)
    return schema


@pytest.mark.parametrize(("name", "schema", "expected"), [
    ("CancelJob", _drifted("CancelJob", "owner", name="owner_id"), "owner_id: only in the schema"),
    ("CancelJob", _drifted("CancelJob", "issued_at", type="string"), "issued_at: int vs str"),
    ("CancelJob", _drifted("CancelJob", "reason", type="string"), "reason: str | None vs str"),
    ("RunStarted", _drifted("RunStarted", "max_attempts", default=4), "default 3 vs 4"),
    ("JobAccepted", _drifted("JobAccepted", "seq", type="double"), "seq: int vs float"),
    ("InputDecided", _drifted("InputDecided", "event_seqs", type={"type": "array",
                                                                   "items": "string"}),
     "event_seqs: list[int] vs list[str]"),
])
def test_a_schema_that_drifts_is_caught(name: str, schema: dict[str, Any],
                                        expected: str) -> None:
    assert any(expected in m for m in mismatches(MESSAGE_TYPES[name], schema))


def test_a_nested_record_that_drifts_is_caught() -> None:
    schema = load_schema("JobSucceeded")
    metrics = next(f for f in schema["fields"] if f["name"] == "metrics")["type"]
    metrics["fields"] = metrics["fields"][:-1]
    assert mismatches(MESSAGE_TYPES["JobSucceeded"], schema) == [
        "metrics.avg_trade_duration_seconds: only in Metrics"]


@dataclass
class CancelJob:  # a class that gained a field its schema lacks, and lost a default
    command_id: str
    job_id: str
    owner: str
    issued_at: int
    correlation_id: str
    reason: str | None
    priority: int = 5


def test_a_dataclass_that_drifts_is_caught() -> None:
    assert sorted(mismatches(CancelJob, load_schema("CancelJob"))) == [
        "priority: only in CancelJob", "reason: default '(none)' vs None"]
