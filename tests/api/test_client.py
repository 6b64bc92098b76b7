"""The SDK against the in-process API: signing, typed errors, SSE decoding, credentials."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from api.examples import GRID_CONFIG
from pipai import client as sdk
from tests.api.conftest import ApiHarness, ms


def _client(h: ApiHarness) -> sdk.Client:
    c = sdk.Client("http://127.0.0.1", h.key.api_key, h.key.secret)
    c.http = h.client
    return c


def test_errors_map_to_exception_classes(harness: ApiHarness) -> None:
    api = _client(harness)
    with pytest.raises(sdk.NotFound) as not_found:
        api.get_job("bt_nope")
    assert not_found.value.status == 404 and not_found.value.code == "NOT_FOUND"
    harness.jobs.accept("bt_q", "alice", GRID_CONFIG, ms("2026-01-01T00:00:00Z"))
    with pytest.raises(sdk.InvalidState):
        api.get_result("bt_q")
    with pytest.raises(sdk.InvalidParameter):
        api.list_jobs(limit=1000)
    harness.client.auth = sdk.PipaiAuth(harness.key.api_key, "wrong")
    with pytest.raises(sdk.InvalidSignature) as bad:
        api.get_job("bt_q")
    assert isinstance(bad.value, sdk.Unauthorized)


def test_every_documented_code_has_a_class() -> None:
    from api.errors import STATUS_OF

    assert set(STATUS_OF) - {"METHOD_NOT_ALLOWED"} <= set(sdk.ERRORS)


def test_rate_limited_carries_retry_after() -> None:
    response = httpx.Response(429, headers={"Retry-After": "7"},
                              json={"error": {"code": "RATE_LIMITED", "message": "slow down"}})
    with pytest.raises(sdk.RateLimited) as err:
        sdk.raise_for_error(response)
    assert err.value.retry_after_s == 7.0


def test_non_json_error_is_still_an_error() -> None:
    with pytest.raises(sdk.PipaiError) as err:
        sdk.raise_for_error(httpx.Response(502, text="bad gateway"))
    assert err.value.status == 502


def test_sse_parsing() -> None:
    lines = ["id: 1", "event: JobAccepted", 'data: {"seq": 1}', "", ": keep-alive", "",
             "id: 2", "event: JobStarted", 'data: {"seq": 2}', ""]
    assert list(sdk.parse_sse(iter(lines))) == [{"seq": 1}, {"seq": 2}]


def test_stream_events_of_a_finished_job(harness: ApiHarness) -> None:
    harness.jobs.accept("bt_s", "alice", GRID_CONFIG, ms("2026-01-01T00:00:00Z"))
    harness.jobs.start("bt_s", ms("2026-01-01T00:00:01Z"))
    harness.jobs.cancel("bt_s", ms("2026-01-01T00:00:02Z"), 0.2)
    events = list(_client(harness).stream_events("bt_s"))
    assert [e["type"] for e in events] == ["JobAccepted", "JobStarted", "JobCancelled"]
    assert [e["seq"] for e in events] == [1, 2, 3]


def test_stream_events_sends_an_end_applied_while_it_reads(harness: ApiHarness) -> None:
    """The job's terminal event is applied just after the stream read the history: the
    stream still sends it before it ends (it used to end on the terminal state without it)."""
    harness.jobs.accept("bt_r", "alice", GRID_CONFIG, ms("2026-01-01T00:00:00Z"))
    harness.jobs.start("bt_r", ms("2026-01-01T00:00:01Z"))
    history = harness.view.history
    ended = []

    def history_then_end(job_id: str, after_seq: int = 0) -> list[dict[str, object]]:
        records = history(job_id, after_seq)
        if not ended:  # the projection applies the end right after this read
            ended.append(True)
            harness.jobs.cancel("bt_r", ms("2026-01-01T00:00:02Z"), 0.2)
            for listener in list(harness.app.state.projection.listeners):
                listener([SimpleNamespace(job_id="bt_r")], [])
        return records

    harness.view.history = history_then_end  # type: ignore[method-assign]
    events = list(_client(harness).stream_events("bt_r"))
    assert [e["type"] for e in events] == ["JobAccepted", "JobStarted", "JobCancelled"]


def test_identical_requests_in_one_millisecond_get_distinct_timestamps() -> None:
    auth = sdk.PipaiAuth("pk", "s")
    stamps = [auth._timestamp() for _ in range(1000)]
    assert len(set(stamps)) == 1000 and stamps == sorted(stamps)
    assert "s'" not in repr(auth)


def test_clients_of_one_key_in_one_process_never_sign_the_same_timestamp() -> None:
    auths = [sdk.PipaiAuth("pk_shared", "s") for _ in range(5)]
    stamps = [a._timestamp() for _ in range(200) for a in auths]
    assert len(set(stamps)) == len(stamps)


def test_credentials_from_env_then_demo_key(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIPAI_API_KEY", raising=False)
    monkeypatch.delenv("PIPAI_API_SECRET", raising=False)
    (tmp_path / "demo-key.json").write_text(json.dumps({"api_key": "pk_d", "secret": "sd"}))
    assert sdk.load_credentials(data_dir=tmp_path) == ("pk_d", "sd")
    monkeypatch.setenv("PIPAI_API_KEY", "pk_e")
    monkeypatch.setenv("PIPAI_API_SECRET", "se")
    assert sdk.load_credentials(data_dir=tmp_path) == ("pk_e", "se")
    assert sdk.load_credentials("pk_o", "so", data_dir=tmp_path) == ("pk_o", "so")
    monkeypatch.delenv("PIPAI_API_KEY")
    with pytest.raises(sdk.Unauthorized):
        sdk.load_credentials(data_dir=tmp_path / "none")


def test_sparkline() -> None:
    from cli.jobs import sparkline

    assert sparkline([]) == ""
    assert sparkline([1.0, 2.0, 3.0]) == "▁▄█"
    assert sparkline([5.0] * 10) == "▁" * 10
    assert len(sparkline([float(i) for i in range(1000)], width=50)) == 50
