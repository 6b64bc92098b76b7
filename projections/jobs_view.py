"""JobsView: the jobs read model in RocksDB, folded from `events` with the decider's `evolve`.

Key layout (all keys and values bytes; `\\x00` separates key parts; `{inv}` is
`INV_BASE - submitted_at_ms` zero-padded to 16 digits, so an ascending scan
walks newest first, ties broken by ascending job id)::

    j\\x00{job_id}                               -> JobState (orjson)
    h\\x00{job_id}\\x00{seq:012d}                  -> event (orjson), the job's history
    r\\x00{job_id}\\x00{attempt:06d}               -> Get Result document (JSON bytes)
    p\\x00{job_id}\\x00{attempt:06d}\\x00{kind}\\x00{index:06d}
                                               -> b"{parts}\\n" + a page of rows (JSON),
        or b"{parts}\\n\\x00" + an equity page in binary (engine/equity_pages.py):
        kind = trades | equity, the full lists behind /trades and /equity
    i\\x00{owner}\\x00{index}\\x00{inv}\\x00{job_id}  -> b""  listing indexes:
        index = "*" (all), "s={status}", "t={template}", "st={status}|{template}",
                "g={tag}", "sg={status}|{tag}" (one of each per tag)
    i\\x00{owner}\\x00{index}\\x00{inv}\\x00{sweep_id} -> b""  a sweep's listing indexes:
        index = "w*", "ws={status}", "wt={template}", "wst={status}|{template}"
        and a child's beside its job indexes: "c={sweep_id}", "cs={sweep_id}|{status}"
    n\\x00{sweep_id}                            -> {"running": n, "started_at": ms} (orjson)
        from the children's own events (the sweep hears only their ends)
    L\\x00{sweep_id}\\x00{sort key}\\x00{seq:012d}  -> a leaderboard row (orjson): a done
        child within the constraints, best first (jobs.sweep_space.sort_key), ties
        in the order the sweep heard them
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

import numpy as np
import orjson
from rocksdict import Options, Rdict, WriteBatch

from engine.equity_pages import EquityPageError, decode_page
from engine.results import equity_json
from jobs.decider import Aggregate, JobState, evolve, initial_state
from jobs.messages import EquityPage, Event, ResultPart, SweepChildFinished, to_record
from jobs.state_codec import dump_state, load_state, state_of_record
from jobs.statuses import DONE, RUNNING
from jobs.sweep_decider import spec_of
from jobs.sweep_space import combo_of, objective_value, satisfies, sort_key, varied
from jobs.sweep_state import SweepState, sweep_of
from pipai.log import get_logger
from projections.cursors import CursorSigner

INV_BASE = 10**16 - 1
SEP = b"\x00"
BINARY = b"\x00"  # a part's value: binary (an EquityPage's data) rather than JSON rows
log = get_logger("projections.jobs_view")


def _inv(submitted_at_ms: int) -> bytes:
    return b"%016d" % (INV_BASE - submitted_at_ms)


def _template(state: Aggregate) -> str:
    try:
        config = orjson.loads(state.config_json)
    except orjson.JSONDecodeError:
        return ""
    if isinstance(state, SweepState):
        config = config.get("base", {})
    return str(config.get("template_id", "")) if isinstance(config, dict) else ""


def _index_names(state: Aggregate) -> list[str]:
    template = _template(state)
    if isinstance(state, SweepState):
        return ["w*", f"ws={state.status}", f"wt={template}", f"wst={state.status}|{template}"]
    names = ["*", f"s={state.status}", f"t={template}", f"st={state.status}|{template}"]
    for tag in state.tags:
        names += [f"g={tag}", f"sg={state.status}|{tag}"]
    child = sweep_of(state.job_id)
    if child is not None:
        names += [f"c={child[0]}", f"cs={child[0]}|{state.status}"]
    return names


def list_index(*, status: str | None, template_id: str | None, tag: str | None = None,
               sweep_id: str | None = None, sweeps: bool = False) -> str:
    """The listing index a page of jobs (or of sweeps) walks for these filters."""
    if sweeps:
        if status and template_id:
            return f"wst={status}|{template_id}"
        return f"ws={status}" if status else f"wt={template_id}" if template_id else "w*"
    if sweep_id:
        return f"cs={sweep_id}|{status}" if status else f"c={sweep_id}"
    if tag:
        return f"sg={status}|{tag}" if status else f"g={tag}"
    if status and template_id:
        return f"st={status}|{template_id}"
    if status:
        return f"s={status}"
    return f"t={template_id}" if template_id else "*"


def _part_key(job_id: str, attempt: int, kind: str, index: int) -> bytes:
    return SEP.join([b"p", job_id.encode(), b"%06d" % attempt, kind.encode(), b"%06d" % index])


def _index_key(owner: str, index: str, submitted_at: int, job_id: str) -> bytes:
    return SEP.join([b"i", owner.encode(), index.encode(), _inv(submitted_at), job_id.encode()])


@dataclass(frozen=True)
class Page:
    raw_records: list[bytes]  # each job's stored record, as stored (jobs/state_codec.py)
    next_cursor: str | None

    @property
    def states(self) -> list[Any]:
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
              parts: Sequence[ResultPart | EquityPage] = ()) -> list[Aggregate]:
        """Fold events and store results, result pages and offsets atomically; return
        changed states."""
        batch = WriteBatch(raw_mode=True)
        changed: dict[str, Aggregate] = {}
        children: dict[str, dict[str, Any]] = {}  # sweep id -> its children's counters
        for event in events:
            before = (changed.get(event.job_id) or self.get(event.job_id)
                      or initial_state(event.job_id))
            if event.seq <= before.seq:
                continue  # an event re-emitted after an orchestrator crash: already folded
            after = evolve(before, event)
            self._reindex(batch, before, after)
            if isinstance(after, JobState) and isinstance(before, JobState):
                self._count_child(children, before, after)
            elif isinstance(event, SweepChildFinished):
                self._rank(batch, after, event)
            name, record = to_record(event)  # a shallow dict: no deep copy per event
            record["type"] = name
            batch.put(SEP.join([b"h", event.job_id.encode(), b"%012d" % event.seq]),
                      orjson.dumps(record))
            changed[event.job_id] = after
        for job_id, state in changed.items():
            batch.put(SEP.join([b"j", job_id.encode()]), dump_state(state))
        for sweep_id, counters in children.items():
            batch.put(SEP.join([b"n", sweep_id.encode()]), orjson.dumps(counters))
        for job_id, attempt, document in results:
            batch.put(SEP.join([b"r", job_id.encode(), b"%06d" % attempt]), document)
        for part in parts:
            if isinstance(part, EquityPage):
                batch.put(_part_key(part.job_id, part.attempt, "equity", part.index),
                          b"%d\n" % part.parts + BINARY + part.data)
            else:
                batch.put(_part_key(part.job_id, part.attempt, part.kind, part.index),
                          b"%d\n" % part.parts + part.rows_json.encode())
        for (topic, partition), offset in offsets.items():
            batch.put(SEP.join([b"o", topic.encode(), str(partition).encode()]),
                      str(offset).encode())
        self.db.write(batch)
        return list(changed.values())

    def _count_child(self, children: dict[str, dict[str, Any]], before: JobState,
                     after: JobState) -> None:
        """A child's move into or out of running, on its sweep's counters."""
        found = sweep_of(after.job_id)
        moved = (before.status == RUNNING) != (after.status == RUNNING)
        if found is None or not (moved or (after.started_at and not before.started_at)):
            return
        counters = children.get(found[0]) or self.sweep_children(found[0])
        counters["running"] += (after.status == RUNNING) - (before.status == RUNNING)
        if after.started_at is not None and (counters["started_at"] is None
                                             or after.started_at < counters["started_at"]):
            counters["started_at"] = after.started_at
        children[found[0]] = counters

    def _rank(self, batch: WriteBatch, sweep: SweepState, event: SweepChildFinished) -> None:
        """A done child within the constraints takes its place on the leaderboard (a
        walk-forward test run is out-of-sample: its own page ranks nothing)."""
        if event.status != DONE or event.metrics is None:
            return
        spec = spec_of(sweep.config_json)
        if combo_of(spec, event.index) is None:
            return
        metrics = event.metrics.as_dict()
        value = objective_value(spec, metrics)
        if value is None or not satisfies(spec, metrics):
            return
        row = {"job_id": event.child_job_id, "values": varied(spec, event.index),
               "objective": metrics[spec.objective.metric], "metrics": metrics}
        batch.put(SEP.join([b"L", sweep.job_id.encode(), sort_key(spec, value),
                            b"%012d" % event.seq]), orjson.dumps(row))

    def _reindex(self, batch: WriteBatch, before: Aggregate, after: Aggregate) -> None:
        if after.submitted_at is None:
            return
        old = set(_index_names(before)) if before.exists else set()
        new = set(_index_names(after))
        for name in old - new:
            batch.delete(_index_key(before.owner, name, before.submitted_at or 0, before.job_id))
        for name in new - old:
            batch.put(_index_key(after.owner, name, after.submitted_at, after.job_id), b"")

    # ---- reads -----------------------------------------------------------------------
    def get(self, job_id: str) -> Any:
        """The stored state of a job (JobState) or, for a sweep id, of a sweep (SweepState)."""
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
        if rows.startswith(BINARY):  # formatted now, into the JSON it would have been
            try:
                rows = equity_json(*decode_page(rows[1:])).encode()
            except EquityPageError:
                log.warning("corrupt_equity_page", job_id=job_id, attempt=attempt, index=index)
                return None
        return int(count), rows

    def equity_arrays(self, job_id: str, attempt: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The whole curve (times ms, equity) of a result whose curve came as binary
        pages; None if a page is missing, corrupt or was JSON."""
        times, equity = [], []
        index, parts = 0, 1
        while index < parts:
            raw: bytes | None = self.db.get(_part_key(job_id, attempt, "equity", index))
            if raw is None:
                return None
            count, rows = raw.split(b"\n", 1)
            if not rows.startswith(BINARY):
                return None
            try:
                t, e = decode_page(rows[1:])
            except EquityPageError:
                return None
            times.append(t)
            equity.append(e)
            index, parts = index + 1, int(count)
        return np.concatenate(times), np.concatenate(equity)

    def list_jobs(self, owner: str, *, status: str | None = None, template_id: str | None = None,
                  from_ms: int | None = None, to_ms: int | None = None, limit: int = 20,
                  cursor: str | None = None, tag: str | None = None,
                  sweep_id: str | None = None) -> Page:
        """A page of `owner`'s jobs, newest first. With a tag or a sweep, its index is
        walked (and a template, if also given, checked on each job it lists)."""
        index = list_index(status=status, template_id=template_id, tag=tag, sweep_id=sweep_id)
        checked = template_id if (tag or sweep_id) else None
        return self._list(owner, index, from_ms, to_ms, limit, cursor, checked)

    def list_sweeps(self, owner: str, *, status: str | None = None,
                    template_id: str | None = None, from_ms: int | None = None,
                    to_ms: int | None = None, limit: int = 20,
                    cursor: str | None = None) -> Page:
        """A page of `owner`'s sweeps, newest first (records of SweepState)."""
        index = list_index(status=status, template_id=template_id, sweeps=True)
        return self._list(owner, index, from_ms, to_ms, limit, cursor, None)

    def _list(self, owner: str, index: str, from_ms: int | None, to_ms: int | None,
              limit: int, cursor: str | None, template_id: str | None) -> Page:
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
            if record is not None and (template_id is None
                                       or _template(load_state(record, "")) == template_id):
                records.append(record)
            last_tail = key[len(prefix):]
        next_cursor = self.cursors.encode(owner, index, last_tail) if has_more else None
        return Page(records, next_cursor)

    # ---- sweeps ----------------------------------------------------------------------
    def sweep_children(self, sweep_id: str) -> dict[str, Any]:
        """What the view knows of a sweep's children beyond their ends: how many run now
        and when the first started."""
        raw = self.db.get(SEP.join([b"n", sweep_id.encode()]))
        found: dict[str, Any] = {"running": 0, "started_at": None}
        if raw is not None:
            found.update(orjson.loads(raw))
        return found

    def leaderboard(self, owner: str, sweep_id: str, limit: int,
                    cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the sweep's leaderboard rows, best first, each with its `rank`, and
        the next cursor (which carries the rank it resumes from)."""
        prefix = SEP.join([b"L", sweep_id.encode(), b""])
        index = f"L={sweep_id}"
        start, rank = prefix, 0
        if cursor is not None:  # "{rank:016d}\x00{sort key}:{seq}", a listing cursor's shape
            ranked, _, after = self.cursors.decode(cursor, owner, index).partition(SEP)
            rank, start = int(ranked), prefix + after.replace(b":", SEP) + b"\x01"
        rows: list[dict[str, Any]] = []
        last = b""
        for key, value in self._scan(prefix, start):
            if len(rows) == limit:
                tail = b"%016d" % rank + SEP + last.replace(SEP, b":")
                return rows, self.cursors.encode(owner, index, tail)
            rank += 1
            rows.append({"rank": rank, **orjson.loads(value)})
            last = key[len(prefix):]
        return rows, None

    def _scan(self, prefix: bytes, start: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        it = self.db.iter()
        it.seek(start or prefix)
        while it.valid():
            key = it.key()
            if not key.startswith(prefix):
                return
            yield key, it.value()
            it.next()
