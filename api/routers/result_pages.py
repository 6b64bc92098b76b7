"""A done job's full trade list, paged (or as CSV), and its full equity curve, downsampled
for charts on request (docs/api.md, "Trades and equity").

The pages come from the result's ResultPart messages (api/replica.py `result_pages`); a
result made before results had pages is served from its summary document (at most its
10,000 most recent trades and 10,000 curve points).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from api.deps import jobs_replica, signed_caller
from api.errors import ApiError
from api.models import EquitySeries, TradeOut, TradePage
from api.openapi import responses
from api.replica import JobsReplica
from api.responses import OrjsonResponse
from engine.analysis import lttb
from engine.results import POINTS_PER_PART, TRADES_PER_PART
from jobs.decider import JobState
from jobs.statuses import DONE

router = APIRouter(prefix="/v1/backtest/jobs", tags=["jobs"])
TRADE_COLUMNS = tuple(TradeOut.model_fields)
MAX_TRADES_PAGE = 1_000
MAX_POINTS = 100_000

_CSV_OK = {"text/csv": {"schema": {"type": "string"}, "example":
           ",".join(TRADE_COLUMNS) + "\nBTCUSDT,long,2025-01-03T04:00:00Z,"
           "2025-01-03T09:00:00Z,63500,64250.5,0.0787,0.50637,58.64\n"}}


@dataclass(frozen=True)
class _Rows:
    """A full list as pages of `size` rows (JSON arrays), parsed only as needed."""

    pages: list[bytes]
    size: int

    def total(self) -> int:
        return (len(self.pages) - 1) * self.size + len(orjson.loads(self.pages[-1]))

    def slice(self, lo: int, hi: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for index in range(lo // self.size, min(len(self.pages), -(-hi // self.size))):
            page = orjson.loads(self.pages[index])
            start = index * self.size
            out += page[max(0, lo - start):max(0, hi - start)]
        return out

    def each_page(self) -> Iterator[list[dict[str, Any]]]:
        for page in self.pages:
            yield orjson.loads(page)


async def _rows(jobs: JobsReplica, state: JobState, kind: str) -> _Rows:
    pages = await jobs.result_pages(state.job_id, state.attempt, kind, state.finished_at or 0)
    if pages is not None:
        return _Rows(pages, TRADES_PER_PART if kind == "trades" else POINTS_PER_PART)
    summary = orjson.loads(await jobs.result(state.job_id, state.attempt))
    rows = summary["trades" if kind == "trades" else "equity_curve"]
    return _Rows([orjson.dumps(rows)], max(1, len(rows)))


def _done(jobs: JobsReplica, request_caller: Any, job_id: str) -> JobState:
    state = jobs.owned(request_caller, job_id)
    if state.status != DONE:
        raise ApiError("INVALID_STATE", f"job {job_id} is {state.status}, not done")
    return state


@router.get("/{job_id}/trades", response_model=TradePage,
            responses={**responses(404, 409, 503),
                       200: {**responses()[200], "content": _CSV_OK}},
            summary="Job Trades", description="Weight: 10. Every trade of a done job, oldest "
            "first, `limit` a page (1-1000, default 100); walk with `cursor` = the previous "
            "`next_cursor`; `total` counts them all. With `Accept: text/csv`, the whole list "
            "as CSV (one header row, the columns of a trade). 409 INVALID_STATE unless done.")
async def job_trades(
    job_id: str,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_TRADES_PAGE, description="Page size")] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> Any:
    caller = await signed_caller(request, "job_trades")
    jobs = jobs_replica(request)
    rows = await _rows(jobs, _done(jobs, caller, job_id), "trades")
    if "text/csv" in request.headers.get("accept", ""):
        return StreamingResponse(_csv(rows), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="{job_id}-trades.csv"'})
    total = rows.total()
    start = _offset(cursor, total)
    end = min(total, start + limit)
    return OrjsonResponse({"data": rows.slice(start, end),
                           "next_cursor": str(end) if end < total else None, "total": total})


def _offset(cursor: str | None, total: int) -> int:
    if cursor is None:
        return 0
    if not cursor.isascii() or not cursor.isdigit() or int(cursor) > total:
        raise ApiError("INVALID_PARAMETER", "cursor: not a next_cursor of this list")
    return int(cursor)


def _csv(rows: _Rows) -> Iterator[bytes]:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=TRADE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for page in rows.each_page():
        writer.writerows(_decimal_points(row) for row in page)
        yield out.getvalue().encode()
        out.seek(0)
        out.truncate()
    if out.getvalue():
        yield out.getvalue().encode()


def _decimal_points(row: dict[str, str]) -> dict[str, str]:
    """Every number with a decimal point ("0" -> "0.0"), so a column whose values happen
    to be whole (a funding column of zeros) still reads as floats, not integers."""
    return {k: (v if k in _TEXT_COLUMNS or "." in v else v + ".0") for k, v in row.items()}


_TEXT_COLUMNS = frozenset(("symbol", "side", "entry_time", "exit_time"))


@router.get("/{job_id}/equity", response_model=EquitySeries, responses=responses(404, 409, 503),
            summary="Job Equity", description="Weight: 10. The full equity curve of a done "
            "job (`total` points); with `points` (2-100000), downsampled to that many by "
            "Largest-Triangle-Three-Buckets, which keeps the first and last points and the "
            "shape (peaks and troughs). 409 INVALID_STATE unless done.")
async def job_equity(
    job_id: str,
    request: Request,
    points: Annotated[int | None, Query(ge=2, le=MAX_POINTS,
                                        description="Downsample to this many points")] = None,
) -> Any:
    caller = await signed_caller(request, "job_equity")
    jobs = jobs_replica(request)
    rows = await _rows(jobs, _done(jobs, caller, job_id), "equity")
    curve = [row for page in rows.each_page() for row in page]
    if points is not None and points < len(curve):
        x = np.array([r["time"][:-1] for r in curve], dtype="datetime64[s]").astype(np.float64)
        y = np.array([float(r["equity"]) for r in curve])
        curve = [curve[i] for i in lttb(x, y, points).tolist()]
    return Response(orjson.dumps({"data": curve, "total": rows.total()}),
                    media_type="application/json")
