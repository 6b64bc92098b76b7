"""Walking every page of a large listing returns each job once, newest first."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from api.examples import BREAKOUT_CONFIG, GRID_CONFIG
from projections.cursors import CursorError
from projections.jobs_view import JobsView
from tests.api.conftest import ApiHarness, JobWriter

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
STATUSES = ("queued", "running", "done", "failed", "cancelled")


def _fill(writer: JobWriter, n: int, seed: int = 7) -> list[dict[str, Any]]:
    """n jobs of two owners; many share a submitted_at millisecond (ties by job id)."""
    rng = random.Random(seed)
    jobs = []
    for i in range(n):
        job_id = f"bt_{i:05d}"
        owner = "alice" if i % 5 else "bob"
        config = GRID_CONFIG if rng.random() < 0.5 else BREAKOUT_CONFIG
        submitted = T0 + rng.randrange(0, 200) * 1000  # collisions on purpose
        writer.accept(job_id, owner, config, submitted)
        status = rng.choice(("queued", "running", "cancelled"))
        if status != "queued":
            writer.start(job_id, submitted + 10)
        if status == "cancelled":
            writer.cancel(job_id, submitted + 20, 0.5)
        jobs.append({"id": job_id, "owner": owner, "template": config["template_id"],
                     "submitted": submitted, "status": status})
    return jobs


def _expected(jobs: list[dict[str, Any]], owner: str, status: str | None, template: str | None,
              from_ms: int | None, to_ms: int | None) -> list[str]:
    chosen = [j for j in jobs if j["owner"] == owner
              and (status is None or j["status"] == status)
              and (template is None or j["template"] == template)
              and (from_ms is None or j["submitted"] >= from_ms)
              and (to_ms is None or j["submitted"] < to_ms)]
    chosen.sort(key=lambda j: (-j["submitted"], j["id"]))
    return [j["id"] for j in chosen]


@pytest.fixture(scope="module")
def big_view(tmp_path_factory: pytest.TempPathFactory) -> Any:
    view = JobsView(Path(tmp_path_factory.mktemp("view")))
    jobs = _fill(JobWriter(view), 1000)
    yield view, jobs
    view.close()


FILTERS = [
    (None, None, None, None),
    ("running", None, None, None),
    (None, "tpl_grid", None, None),
    ("cancelled", "tpl_breakout", None, None),
    (None, None, T0 + 50_000, T0 + 150_000),
    ("queued", "tpl_grid", T0 + 20_000, None),
    (None, None, None, T0 + 1_000),
]


@pytest.mark.parametrize("status,template,from_ms,to_ms", FILTERS)
@pytest.mark.parametrize("limit", [1, 7, 20, 100])
def test_every_page_of_1000_jobs_once_in_order(big_view: Any, status: str | None,
                                               template: str | None, from_ms: int | None,
                                               to_ms: int | None, limit: int) -> None:
    view, jobs = big_view
    want = _expected(jobs, "alice", status, template, from_ms, to_ms)
    seen: list[str] = []
    cursor = None
    for _ in range(len(want) + 2):
        page = view.list_jobs("alice", status=status, template_id=template, from_ms=from_ms,
                              to_ms=to_ms, limit=limit, cursor=cursor)
        assert len(page.states) <= limit
        seen += [s.job_id for s in page.states]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == want
    assert len(seen) == len(set(seen))


def test_status_changes_move_jobs_between_indexes(tmp_path: Path) -> None:
    view = JobsView(tmp_path / "v")
    writer = JobWriter(view)
    writer.accept("bt_a", "alice", GRID_CONFIG, T0)
    writer.start("bt_a", T0 + 1)
    assert [s.job_id for s in view.list_jobs("alice", status="running").states] == ["bt_a"]
    writer.cancel("bt_a", T0 + 2, 0.1)
    assert view.list_jobs("alice", status="running").states == []
    assert [s.job_id for s in view.list_jobs("alice", status="cancelled").states] == ["bt_a"]
    view.close()


def test_paging_over_http_with_filters(harness: ApiHarness) -> None:
    jobs = _fill(harness.jobs, 120, seed=3)
    want = _expected(jobs, "alice", "running", "tpl_grid", None, None)
    params: dict[str, Any] = {"status": "running", "template_id": "tpl_grid", "limit": 7}
    seen: list[str] = []
    while True:
        page = harness.client.get("/v1/backtest/jobs", params=params).json()
        assert all(j["status"] == "running" and j["config"]["template_id"] == "tpl_grid"
                   for j in page["data"])
        seen += [j["id"] for j in page["data"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == want and want


def test_a_cursor_of_another_filter_is_refused(harness: ApiHarness) -> None:
    _fill(harness.jobs, 30)
    cursor = harness.client.get("/v1/backtest/jobs", params={"limit": 2}).json()["next_cursor"]
    response = harness.client.get("/v1/backtest/jobs", params={"status": "queued",
                                                                 "cursor": cursor})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_PARAMETER"


def test_sdk_iterates_all_pages(harness: ApiHarness) -> None:
    from pipai.client import Client

    jobs = _fill(harness.jobs, 60, seed=5)
    client = Client("http://127.0.0.1", harness.key.api_key, harness.key.secret)
    client.http = harness.client
    ids = [j["id"] for j in client.iter_jobs(page_size=9)]
    assert ids == _expected(jobs, "alice", None, None, None, None)


def _b64(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("forged", [
    _b64(b'{"i": "*", "k": "zzzz"}'),                           # valid JSON, unsigned
    _b64(b'{"i": "*", "k": "0000000000000000\\u0000bt_x"}'),     # well-formed key, unsigned
    _b64(b'{"i": "*", "k": "zzzz"}') + "." + _b64(b"0" * 16),  # a made-up tag
    "not a cursor", "", ".", "a.b.c",
])
def test_a_forged_cursor_is_invalid_parameter(harness: ApiHarness, forged: str) -> None:
    _fill(harness.jobs, 30)
    response = harness.client.get("/v1/backtest/jobs", params={"cursor": forged})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == {"code": "INVALID_PARAMETER",
                                        "message": "cursor: invalid cursor"}


def test_an_edited_cursor_is_refused(harness: ApiHarness) -> None:
    _fill(harness.jobs, 30)
    cursor = harness.client.get("/v1/backtest/jobs", params={"limit": 2}).json()["next_cursor"]
    payload, tag = cursor.split(".")
    edited = _b64(b'{"i":"*","k":"9999999999999999\\u0000bt_00001"}') + "." + tag
    response = harness.client.get("/v1/backtest/jobs", params={"cursor": edited})
    assert response.status_code == 400 and response.json()["error"]["code"] == "INVALID_PARAMETER"


def test_another_owners_cursor_is_refused(harness: ApiHarness) -> None:
    _fill(harness.jobs, 30)
    cursor = harness.client.get("/v1/backtest/jobs", params={"limit": 2}).json()["next_cursor"]
    mallory = harness.signed_client(harness.other)
    response = mallory.get("/v1/backtest/jobs", params={"cursor": cursor})
    assert response.status_code == 400 and response.json()["error"]["code"] == "INVALID_PARAMETER"


def test_cursors_hold_across_views_sharing_the_key(tmp_path: Path) -> None:
    """Two API instances (two views) on one data directory accept each other's cursors."""
    from projections.cursors import load_or_create_key

    key = load_or_create_key(tmp_path / "cursor-key")
    assert load_or_create_key(tmp_path / "cursor-key") == key
    assert (tmp_path / "cursor-key").stat().st_mode & 0o777 == 0o600
    first, second = JobsView(tmp_path / "a", cursor_key=key), JobsView(tmp_path / "b",
                                                                       cursor_key=key)
    jobs = _fill(JobWriter(first), 40)
    _fill(JobWriter(second), 40)
    page = first.list_jobs("alice", limit=5)
    rest = second.list_jobs("alice", limit=100, cursor=page.next_cursor)
    want = _expected(jobs, "alice", None, None, None, None)
    assert [s.job_id for s in page.states + rest.states] == want
    stranger = JobsView(tmp_path / "c")  # another key: the cursor is not its own
    with pytest.raises(CursorError):
        stranger.list_jobs("alice", cursor=page.next_cursor)
    for view in (first, second, stranger):
        view.close()
