"""The seed pages' examples replayed: the same jobs in the view give the same JSON, key for key."""

from __future__ import annotations

import json
from typing import Any

from api import examples
from tests.api.conftest import ApiHarness, ms

JOB = "/v1/backtest/jobs"


def _load_seed_jobs(h: ApiHarness) -> None:
    done, running, cancelled = examples.DONE_JOB, examples.RUNNING_JOB, examples.CANCELLED_JOB
    h.jobs.accept(done["id"], "alice", done["config"], ms(done["submitted_at"]))
    h.jobs.start(done["id"], ms(done["started_at"]))
    h.jobs.succeed(done["id"], ms(done["finished_at"]), done["result"]["metrics"])
    h.jobs.accept(running["id"], "alice", running["config"], ms(running["submitted_at"]))
    h.jobs.start(running["id"], ms(running["started_at"]))
    h.jobs.progress(running["id"], ms(running["started_at"]) + 1000, running["progress"])
    h.jobs.accept("bt_c4nc3l", "alice", cancelled["config"], ms(cancelled["submitted_at"]))
    h.jobs.start("bt_c4nc3l", ms(cancelled["started_at"]))
    h.jobs.progress("bt_c4nc3l", ms(cancelled["started_at"]) + 1000, cancelled["progress"])
    h.jobs.cancel("bt_c4nc3l", ms(cancelled["finished_at"]), cancelled["progress"],
                  examples.CANCEL_REQUEST["reason"])


def _same_shape(got: Any, want: Any, where: str = "$") -> None:
    """Equal, and with the keys in the seed page's order."""
    assert type(got) is type(want) or {type(got), type(want)} <= {int, float}, where
    if isinstance(want, dict):
        assert list(got) == list(want), f"{where}: keys {list(got)} != {list(want)}"
        for k in want:
            _same_shape(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _same_shape(g, w, f"{where}[{i}]")
    else:
        assert got == want, f"{where}: {got!r} != {want!r}"


def test_get_job_matches_the_seed_done_job(harness: ApiHarness) -> None:
    _load_seed_jobs(harness)
    response = harness.client.get(f"{JOB}/bt_3c91ef")
    assert response.status_code == 200
    _same_shape(response.json(), examples.DONE_JOB)


def test_cancelled_job_matches_the_seed_cancel_response(harness: ApiHarness) -> None:
    _load_seed_jobs(harness)
    job = harness.client.get(f"{JOB}/bt_c4nc3l").json()
    _same_shape(job, {**examples.CANCELLED_JOB, "id": "bt_c4nc3l"})
    history = harness.client.get(f"{JOB}/bt_c4nc3l/events").json()["data"]
    assert history[-1]["type"] == "JobCancelled"
    assert history[-1]["reason"] == examples.CANCEL_REQUEST["reason"]


def test_list_matches_the_seed_page(harness: ApiHarness) -> None:
    _load_seed_jobs(harness)
    page = harness.client.get(JOB, params={"limit": 2}).json()
    assert list(page) == ["data", "next_cursor"]
    # The page's rule is "sorted by submitted_at descending": newest (bt_88a210) first.
    want = sorted(examples.JOB_LIST["data"], key=lambda j: j["submitted_at"], reverse=True)
    _same_shape(page["data"], want)
    assert isinstance(page["next_cursor"], str)  # a third job (cancelled) remains
    rest = harness.client.get(JOB, params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert [j["id"] for j in rest["data"]] == ["bt_c4nc3l"] and rest["next_cursor"] is None


def test_seed_list_example_filters(harness: ApiHarness) -> None:
    _load_seed_jobs(harness)
    page = harness.client.get(JOB, params={"status": "done", "template_id": "tpl_grid",
                                           "limit": 10}).json()
    _same_shape(page, {"data": [examples.DONE_JOB], "next_cursor": None})


def test_list_parameter_errors_are_invalid_parameter(harness: ApiHarness) -> None:
    for params in ({"status": "paused"}, {"from": "yesterday"}, {"to": "2026-13-01T00:00:00Z"},
                   {"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"cursor": "garbage!"}):
        response = harness.client.get(JOB, params=params)
        assert response.status_code == 400, params
        body = response.json()
        assert list(body) == ["error"] and body["error"]["code"] == "INVALID_PARAMETER", params


def test_result_of_a_job_not_done_is_invalid_state(harness: ApiHarness) -> None:
    _load_seed_jobs(harness)
    response = harness.client.get(f"{JOB}/bt_88a210/result")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "INVALID_STATE"


def test_result_document_is_served_as_stored(harness: ApiHarness) -> None:
    metrics = examples.DONE_JOB["result"]["metrics"]
    document = {"metrics": metrics, "equity_curve": [{"time": "2025-01-01T00:00:00Z",
                                                      "equity": "10000.00"}], "trades": []}
    harness.jobs.accept("bt_r", "alice", examples.GRID_CONFIG, ms("2026-04-29T10:15:00Z"))
    harness.jobs.succeed("bt_r", ms("2026-04-29T10:16:00Z"), metrics, document)
    response = harness.client.get(f"{JOB}/bt_r/result")
    assert response.status_code == 200 and response.json() == document


def test_errors_have_one_shape(harness: ApiHarness) -> None:
    for response in (harness.client.get(f"{JOB}/bt_nope"), harness.client.get("/v1/nowhere"),
                     harness.client.delete(f"{JOB}/bt_nope")):
        body = response.json()
        assert list(body) == ["error"] and list(body["error"]) == ["code", "message"]


def test_openapi_carries_the_seed_examples(harness: ApiHarness) -> None:
    schema = harness.client.get("/openapi.json").json()
    listing = schema["paths"][JOB]["get"]["responses"]["200"]["content"]["application/json"]
    assert listing["example"] == examples.JOB_LIST
    cancel = schema["paths"][JOB + "/{job_id}/cancel"]["post"]
    assert cancel["responses"]["200"]["content"]["application/json"]["example"] == \
        examples.CANCELLED_JOB
    assert set(schema["components"]["securitySchemes"]) == {"ApiKey", "Timestamp", "Signature"}
    json.dumps(schema)  # serialisable as served


def test_405_lists_every_allowed_method(harness: ApiHarness) -> None:
    response = harness.client.put(JOB)
    assert response.status_code == 405 and response.headers["Allow"] == "GET, POST"
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_openapi_documents_202_pending_for_commands(harness: ApiHarness) -> None:
    paths = harness.client.get("/openapi.json").json()["paths"]
    for operation in (paths[JOB]["post"], paths[JOB + "/{job_id}/cancel"]["post"]):
        pending = operation["responses"]["202"]
        assert pending["content"]["application/json"]["example"] == examples.PENDING
        assert {"Location", "X-PipAI-Used-Weight-1m"} <= set(pending["headers"])
    assert "202" not in paths[JOB + "/{job_id}"]["get"]["responses"]


def test_the_event_stream_is_documented_frame_by_frame(harness: ApiHarness) -> None:
    """Each SSE frame is an object of id, event and data (schemathesis' stateful phase
    checks every frame against it: the document once said a frame was a string)."""
    document = harness.client.get("/openapi.json").json()
    operation = document["paths"]["/v1/backtest/jobs/{job_id}/events"]["get"]
    frame = operation["responses"]["200"]["content"]["text/event-stream"]["schema"]
    assert frame["type"] == "object" and set(frame["required"]) == {"id", "event", "data"}
    links = document["paths"]["/v1/backtest/jobs"]["post"]["responses"]["201"]["links"]
    assert links["job_events_v1_backtest_jobs__job_id__events_get"]["parameters"] == {
        "job_id": "$response.body#/id"}
