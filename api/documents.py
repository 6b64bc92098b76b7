"""Job objects rendered once per stored state: the read path's cache.

A job's record changes only when the projection folds one of its events, and the
same record always renders to the same job object (api/presenters.py). So the
rendered bytes are kept under the record's own bytes: a read fetches the record
from the view (one RocksDB get), and a hit is valid by construction — there is
nothing to invalidate, a changed job simply has other bytes. A miss renders and
keeps the result; the least recently used entries go past `capacity`.

Watching clients read the same jobs again and again (a dashboard polling its list,
an SDK waiting for a job): they get bytes already made, and the cost of a read is
the signature check and the framework's (docs/performance.md, "API").
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

import orjson

from api.presenters import job_document

CAPACITY = 20_000  # about 1.5 KB of record and 0.7 KB of document each: ~45 MB at most
# Result documents whose curve was formatted from binary pages (api/replica.py): a
# one-year 1h document is ~450 KB and ~8 ms to format, and a result never changes.
RESULTS_CAPACITY = 32


class Rendered(NamedTuple):
    exists: bool
    owner: str
    document: bytes  # the job object as JSON


class JobDocuments:
    def __init__(self, capacity: int = CAPACITY,
                 results_capacity: int = RESULTS_CAPACITY) -> None:
        self.capacity = capacity
        self.results_capacity = results_capacity
        self._by_record: OrderedDict[bytes, Rendered] = OrderedDict()
        self._results: OrderedDict[tuple[str, int], bytes] = OrderedDict()

    def result(self, job_id: str, attempt: int) -> bytes | None:
        """A result document formatted before, if still kept."""
        hit = self._results.get((job_id, attempt))
        if hit is not None:
            self._results.move_to_end((job_id, attempt))
        return hit

    def keep_result(self, job_id: str, attempt: int, document: bytes) -> None:
        self._results[(job_id, attempt)] = document
        if len(self._results) > self.results_capacity:
            self._results.popitem(last=False)

    def rendered(self, raw_record: bytes) -> Rendered:
        hit = self._by_record.get(raw_record)
        if hit is not None:
            self._by_record.move_to_end(raw_record)
            return hit
        record = orjson.loads(raw_record)
        exists = record.get("status") is not None
        rendered = Rendered(exists, record.get("owner", ""),
                            orjson.dumps(job_document(record)) if exists else b"")
        self._by_record[raw_record] = rendered
        if len(self._by_record) > self.capacity:
            self._by_record.popitem(last=False)
        return rendered
