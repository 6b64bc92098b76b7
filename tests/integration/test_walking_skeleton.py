"""One backtest job end to end over HTTP, through the real broker, orchestrator and engine."""

from __future__ import annotations

import pytest

from tests.integration.conftest import LiveStack, grid_config

pytestmark = pytest.mark.integration
METRIC_NAMES = {"sharpe", "sortino", "calmar", "max_drawdown", "win_rate", "profit_factor",
                "cagr", "expected_value", "total_trades", "avg_trade_duration_seconds"}


def test_job_runs_to_done_with_all_ten_metrics(live: LiveStack) -> None:
    response = live.client.post("/v1/backtest/jobs", json=grid_config())
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["id"].startswith("bt_")
    assert job["status"] in ("queued", "running")
    assert job["config"] == grid_config()
    assert job["submitted_at"].endswith("Z") and job["finished_at"] is None

    done = live.wait_for(job["id"], lambda j: j["status"] == "done")
    assert set(done["result"]["metrics"]) == METRIC_NAMES
    assert done["result"]["metrics"]["total_trades"] > 0
    assert done["result"]["metrics"]["sharpe"] is not None
    assert done["progress"] == 1.0 and done["error"] is None
    assert done["started_at"] and done["finished_at"]

    listing = live.client.get("/v1/backtest/jobs", params={"limit": 5}).json()
    assert listing["data"][0]["id"] == job["id"]

    result = live.client.get(f"/v1/backtest/jobs/{job['id']}/result")
    assert result.status_code == 200
    body = result.json()
    assert body["metrics"] == done["result"]["metrics"]
    assert body["equity_curve"] and body["equity_curve"][0]["time"].endswith("Z")
    # The full lists, from the result's pages on the results topic.
    trades = live.client.get(f"/v1/backtest/jobs/{job['id']}/trades", params={"limit": 1000})
    assert trades.status_code == 200, trades.text
    assert trades.json()["total"] == body["trades_total"] == done["result"]["metrics"][
        "total_trades"]
    if body["trades_total"] <= 1000:  # one page: the summary lists the same trades
        assert trades.json()["data"] == body["trades"]
    curve = live.client.get(f"/v1/backtest/jobs/{job['id']}/equity").json()
    assert curve["data"][-1] == body["equity_curve"][-1] and curve["total"] >= len(
        body["equity_curve"])

    history = live.client.get(f"/v1/backtest/jobs/{job['id']}/events").json()["data"]
    assert [e["seq"] for e in history] == list(range(1, len(history) + 1))
    assert history[0]["type"] == "JobAccepted" and history[-1]["type"] == "JobSucceeded"


def test_running_job_cancelled_over_http(live: LiveStack) -> None:
    job = live.client.post("/v1/backtest/jobs", json=grid_config()).json()
    live.wait_for(job["id"], lambda j: j["status"] == "running")

    response = live.client.post(f"/v1/backtest/jobs/{job['id']}/cancel",
                                json={"reason": "superseded by tpl_grid_v2 sweep"})
    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["finished_at"] is not None and cancelled["started_at"] is not None
    assert cancelled["result"] is None and cancelled["error"] is None

    again = live.client.post(f"/v1/backtest/jobs/{job['id']}/cancel")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "INVALID_STATE"

    history = live.client.get(f"/v1/backtest/jobs/{job['id']}/events").json()["data"]
    assert history[-1]["type"] == "JobCancelled"
    assert history[-1]["reason"] == "superseded by tpl_grid_v2 sweep"


def test_unknown_job_is_not_found(live: LiveStack) -> None:
    for method, path in (("GET", "/v1/backtest/jobs/bt_nope"),
                         ("POST", "/v1/backtest/jobs/bt_nope/cancel"),
                         ("GET", "/v1/backtest/jobs/bt_nope/result")):
        response = live.client.request(method, path)
        assert response.status_code == 404
        assert response.json() == {"error": {"code": "NOT_FOUND",
                                             "message": "job bt_nope not found"}}


def test_requests_without_a_known_key_are_unauthorized(live: LiveStack) -> None:
    url = f"{live.client.base_url}/v1/backtest/jobs"
    import httpx

    assert httpx.get(url).json()["error"]["code"] == "UNAUTHORIZED"
    assert httpx.get(url, headers={"X-PipAI-API-Key": "pk_unknown"}).status_code == 401


def test_invalid_config_names_the_field(live: LiveStack) -> None:
    response = live.client.post("/v1/backtest/jobs", json=grid_config(capital=10000))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_PARAMETER"
    assert "capital" in response.json()["error"]["message"]


def test_labels_and_tag_filter_through_the_log(live: LiveStack) -> None:
    """Labels go through the orchestrator and the events log like any change: on create,
    by PATCH on a finished job, as a list filter; bulk cancel finds nothing left to do."""
    created = live.client.post("/v1/backtest/jobs",
                               json={**grid_config(), "name": "skeleton", "tags": ["it-tag"]})
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    live.wait_for(job_id, lambda j: j["status"] == "done")
    patched = live.client.patch(f"/v1/backtest/jobs/{job_id}", json={"notes": "checked"})
    assert patched.status_code == 200, patched.text
    assert patched.json() == {"id": job_id, "name": "skeleton", "tags": ["it-tag"],
                              "notes": "checked"}
    tagged = live.client.get("/v1/backtest/jobs", params={"tag": "it-tag"}).json()["data"]
    assert [j["id"] for j in tagged] == [job_id]
    events = live.client.get(f"/v1/backtest/jobs/{job_id}/events").json()["data"]
    assert [e["type"] for e in events].count("JobAnnotated") == 2
    bulk = live.client.post("/v1/backtest/jobs/cancel", params={"tag": "it-tag"}).json()
    assert bulk == {"matched": 0, "cancelled": 0, "remaining": False}  # it is done
