"""JobsView: the jobs read model in RocksDB, folded from `events` with the decider's `evolve`.

Key layout (all keys and values bytes; `\\x00` separates key parts; `{inv}` is
`INV_BASE - submitted_at_ms` zero-padded to 16 digits, so an ascending scan
walks newest first, ties broken by ascending job id)::

    j\\x00{job_id}                               -> JobState (orjson)
    h\\x00{job_id}\\x00{seq:012d}                  -> event (orjson), the job's history
    r\\x00{job_id}\\x00{attempt:06d}               -> Get Result document (JSON bytes)
    p\\x00{job_id}\\x00{attempt:06d}\\x00{kind}\\x00{index:06d}
                                               -> b"{parts}\\n" + a page of rows (JSON):
        kind = trades | equity, the full lists behind /trades and /equity
    i\\x00{owner}\\x00{index}\\x00{inv}\\x00{job_id}  -> b""  listing indexes:
        index = "*" (all), "s={status}", "t={template}", "st={status}|{template}",
                "g={tag}", "sg={status}|{tag}" (one of each per tag)
    o\\x00{topic}\\x00{partition}                  -> next offset to consume (ascii int)

A page of a listing is one range scan over one index, from the cursor's key,
so its cost grows with the page size, not with the number of jobs. The consumed
offsets are written in the same WriteBatch as the data they produced, so a
restart resumes exactly where the view stopped.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from rocksdict import Options, Rdict, WriteBatch

from jobs.decider import JobState, evolve
from jobs.messages import Event, ResultPart, to_record
from jobs.state_codec import dump_state, load_state, state_of_record
from projections.cursors import CursorSigner

INV_BASE = 10**16 - 1
SEP = b"\x00"


def _inv(submitted_at_ms: int) -> bytes:
    return b"%016d" % (INV_BASE - submitted_at_ms)


def _template(state: JobState) -> str:
    try:
        return str(orjson.loads(state.config_json).get("template_id", ""))
    except orjson.JSONDecodeError:
        return ""


def _index_names(state: JobState) -> list[str]:
    template = _template(state)
    names = ["*", f"s={state.status}", f"t={template}", f"st={state.status}|{template}"]
    for tag in state.tags:
        names += [f"g={tag}", f"sg={state.status}|{tag}"]
    return names


def _part_key(job_id: str, attempt: int, kind: str, index: int) -> bytes:
    return SEP.join([b"p", job_id.encode(), b"%06d" % attempt, kind.encode(), b"%06d" % index])


def _index_key(owner: str, index: str, submitted_at: int, job_id: str) -> bytes:
    return SEP.join([b"i", owner.encode(), index.encode(), _inv(submitted_at), job_id.encode()])


@dataclass(frozen=True)
class Page:
    raw_records: list[bytes]  # each job's stored record, as stored (jobs/state_codec.py)
    next_cursor: str | None

    @property
    def states(self) -> list[JobState]:
        return [state_of_record(orjson.loads(r)) for r in self.raw_records]


class JobsView:
    def __init__(self, path: Path, cursor_key: bytes | None = None) -> None:
        """`cursor_key` signs listing cursors; without one, a key of this object's own
        (its cursors are valid only while it lives)."""
        self.cursors = CursorSigner(cursor_key or secrets.token_bytes(32))
        path.mkdir(parents=True, exist_ok=True)
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        self.db = Rdict(str(path), options=options)

    def close(self) -> None:
        self.db.close()

    # ---- writes (one batch per consumed batch of messages) ---------------------------------
    def offsets(self, topic: str) -> dict[int, int]:
        prefix = SEP.join([b"o", topic.encode(), b""])
        return {int(k[len(prefix):]): int(v) for k, v in self._scan(prefix)}

    def apply(self, events: list[Event], results: list[tuple[str, int, bytes]],
              offsets: dict[tuple[str, int], int],
              parts: Sequence[ResultPart] = ()) -> list[JobState]:
        """Fold events and store results, result pages and offsets atomically; return
        changed states."""
        batch = WriteBatch(raw_mode=True)
        changed: dict[str, JobState] = {}
        for event in events:
            before = (changed.get(event.job_id) or self.get(event.job_id)
                      or JobState(job_id=event.job_id))
            if event.seq <= before.seq:
                continue  # an event re-emitted after an orchestrator crash: already folded
            after = evolve(before, event)
            self._reindex(batch, before, after)
            name, record = to_record(event)  # a shallow dict: no deep copy per event
            record["type"] = name
            batch.put(SEP.join([b"h", event.job_id.encode(), b"%012d" % event.seq]),
                      orjson.dumps(record))
            changed[event.job_id] = after
        for job_id, state in changed.items():
            batch.put(SEP.join([b"j", job_id.encode()]), dump_state(state))
        for job_id, attempt, document in results:
            batch.put(SEP.join([b"r", job_id.encode(), b"%06d" % attempt]), document)
        for part in parts:
            batch.put(_part_key(part.job_id, part.attempt, part.kind, part.index),
                      b"%d\n" % part.parts + part.rows_json.encode())
        for (topic, partition), offset in offsets.items():
            batch.put(SEP.join([b"o", topic.encode(), str(partition).encode()]),
                      str(offset).encode())
        self.db.write(batch)
        return list(changed.values())

    def _reindex(self, batch: WriteBatch, before: JobState, after: JobState) -> None:
        if after.submitted_at is None:
            return
        old = set(_index_names(before)) if before.exists else set()
        new = set(_index_names(after))
        for name in old - new:
            batch.delete(_index_key(before.owner, name, before.submitted_at or 0, before.job_id))
        for name in new - old:
            batch.put(_index_key(after.owner, name, after.submitted_at, after.job_id), b"")

    # ---- reads -----------------------------------------------------------------------
    def get(self, job_id: str) -> JobState | None:
        raw = self.db.get(SEP.join([b"j", job_id.encode()]))
        return None if raw is None else load_state(raw, job_id)

    def raw_record(self, job_id: str) -> bytes | None:
        """The job's stored record as stored, without building a JobState (the API's read
        path renders it, api/documents.py)."""
        raw: bytes | None = self.db.get(SEP.join([b"j", job_id.encode()]))
        return raw

    def history(self, job_id: str, after_seq: int = 0) -> list[dict[str, Any]]:
        prefix = SEP.join([b"h", job_id.encode(), b""])
        start = prefix + b"%012d" % (after_seq + 1)
        return [orjson.loads(v) for _, v in self._scan(prefix, start)]

    def result(self, job_id: str, attempt: int) -> bytes | None:
        raw = self.db.get(SEP.join([b"r", job_id.encode(), b"%06d" % attempt]))
        return None if raw is None else bytes(raw)

    def result_part(self, job_id: str, attempt: int, kind: str,
                    index: int) -> tuple[int, bytes] | None:
        """(pages of this kind, the page's rows as a JSON array), or None if not here."""
        raw: bytes | None = self.db.get(_part_key(job_id, attempt, kind, index))
        if raw is None:
            return None
        count, rows = raw.split(b"\n", 1)
        return int(count), rows

    def list_jobs(self, owner: str, *, status: str | None = None, template_id: str | None = None,
                  from_ms: int | None = None, to_ms: int | None = None, limit: int = 20,
                  cursor: str | None = None, tag: str | None = None) -> Page:
        """A page of `owner`'s jobs, newest first. With a tag, the tag's index is walked
        (and a template, if also given, checked on each job it lists)."""
        if tag:
            index = f"sg={status}|{tag}" if status else f"g={tag}"
        elif status and template_id:
            index = f"st={status}|{template_id}"
        elif status:
            index = f"s={status}"
        elif template_id:
            index = f"t={template_id}"
        else:
            index = "*"
        prefix = SEP.join([b"i", owner.encode(), index.encode(), b""])
        # Newest first: `to` (exclusive) bounds the start, `from` (inclusive) the end.
        start = prefix + (_inv(to_ms - 1) if to_ms is not None else b"")
        if cursor is not None:
            start = max(start, prefix + self.cursors.decode(cursor, owner, index) + b"\x01")
        stop = prefix + _inv(from_ms) + b"\xff" if from_ms is not None else None
        records: list[bytes] = []
        last_tail = b""
        has_more = False
        for key, _ in self._scan(prefix, start):
            if stop is not None and key > stop:
                break
            if len(records) == limit:
                has_more = True
                break
            record = self.raw_record(key.rsplit(SEP, 1)[1].decode())
            if record is not None and (not (tag and template_id)
                                       or _template(load_state(record, "")) == template_id):
                records.append(record)
            last_tail = key[len(prefix):]
        next_cursor = self.cursors.encode(owner, index, last_tail) if has_more else None
        return Page(records, next_cursor)

    def _scan(self, prefix: bytes, start: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        it = self.db.iter()
        it.seek(start or prefix)
        while it.valid():
            key = it.key()
            if not key.startswith(prefix):
                return
            yield key, it.value()
            it.next()
