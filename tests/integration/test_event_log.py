"""The event log's promises on the real broker: crash safety, worker loss, rebuild, replay.

SIGKILL is real (the process group gets SIGKILL), the broker is real, and every
check reads the real `events` topic.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jobs.audit import verify
from pipai.processes import kill
from projections.jobs_view import JobsView
from projections.rebuild import log_events, rebuild
from tests.integration.conftest import LiveStack, grid_config, start_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def crashy(kafka_bootstrap: str, market_dir: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    yield from start_stack(
        tmp_path_factory.mktemp("crashy"), kafka_bootstrap, market_dir,
        engine_workers=2, engine_min_job_seconds=0.3, heartbeat_timeout_s=6.0,
        max_attempts=3, orchestrator_session_timeout_s=6.0, command_timeout_s=30.0,
        api_weight_per_minute=1_000_000)


def _restart_orchestrator(live: LiveStack) -> None:
    kill(live.stack.children["orchestrator"])
    live.stack.start_process("orchestrator", "orchestrator")


def _wait_all_terminal(live: LiveStack, ids: list[str], timeout_s: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout_s
    statuses: dict[str, str] = {}
    while time.monotonic() < deadline:
        view_page = live.client.get("/v1/backtest/jobs", params={"limit": 100})
        assert view_page.status_code == 200
        statuses = {}
        for job_id in ids:
            response = live.client.get(f"/v1/backtest/jobs/{job_id}")
            if response.status_code == 503:  # the replica catching up: asked again below
                statuses[job_id] = "unavailable"
                continue
            assert response.status_code == 200, (job_id, response.status_code, response.text)
            statuses[job_id] = response.json()["status"]
        if all(s in ("done", "failed", "cancelled") for s in statuses.values()):
            return statuses
        time.sleep(0.5)  # poll interval; the deadline bounds the wait
    raise AssertionError(f"not terminal in time: {Counter(statuses.values())}")


def test_orchestrator_sigkilled_five_times_loses_and_duplicates_nothing(crashy: LiveStack) -> None:
    def submit(n: int) -> str:
        response = crashy.client.post("/v1/backtest/jobs", json=grid_config())
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(submit, range(200)))
    cancelled = ids[::20]  # some cancels while it all goes on
    for job_id in cancelled[:5]:
        crashy.client.post(f"/v1/backtest/jobs/{job_id}/cancel", json={"reason": "test"})
    for _ in range(5):
        _restart_orchestrator(crashy)
        crashy.stack.wait_groups(timeout_s=90)
    statuses = _wait_all_terminal(crashy, ids, timeout_s=300)
    assert set(statuses.values()) <= {"done", "cancelled"}
    assert Counter(statuses.values())["done"] >= 190

    events = list(log_events(crashy.settings))
    keys = [(e.job_id, e.seq) for e in events]
    assert len(keys) == len(set(keys)), "an event appears twice in the log"
    report = verify(events)
    assert report.clean, report.findings[:5]
    for job_id, status in statuses.items():
        assert report.states[job_id].status == status


def test_worker_sigkilled_mid_job_is_requeued_and_finishes(crashy: LiveStack) -> None:
    slow = grid_config(timeframe="1m", end="2025-06-01T00:00:00Z")
    job = crashy.client.post("/v1/backtest/jobs", json=slow).json()
    running = crashy.wait_for(job["id"], lambda j: j["status"] == "running")
    assert running["started_at"] is not None
    # kill whichever worker runs it: both, then bring two new ones up
    for name in ("engine-0", "engine-1"):
        kill(crashy.stack.children[name])
    for name in ("engine-0", "engine-1"):
        crashy.stack.start_process(name, "workers")
    done = crashy.wait_for(job["id"], lambda j: j["status"] in ("done", "failed"), timeout_s=120)
    assert done["status"] == "done"
    history = crashy.client.get(f"/v1/backtest/jobs/{job['id']}/events").json()["data"]
    types = [e["type"] for e in history]
    assert types[-1] == "JobSucceeded"
    assert types.count("JobStarted") >= 1


def test_rebuilt_projection_equals_the_live_one(crashy: LiveStack, tmp_path: Path) -> None:
    live_path = crashy.settings.data_dir / "api" / crashy.settings.instance / "jobs-view"
    rebuilt = rebuild(crashy.settings, tmp_path / "rebuilt")
    try:
        # the live replica may lag the log by a moment: compare once it has caught up
        deadline = time.monotonic() + 30
        while True:
            live_rows = _rows_via_api(crashy)
            rebuilt_rows = {job_id: _summary(rebuilt, job_id) for job_id in live_rows}
            if live_rows == rebuilt_rows or time.monotonic() > deadline:
                break
            time.sleep(0.2)  # poll interval; the deadline bounds the wait
        assert live_rows and live_rows == rebuilt_rows
        assert live_path.exists()
    finally:
        rebuilt.close()


def _rows_via_api(live: LiveStack) -> dict[str, tuple[str, int]]:
    rows: dict[str, tuple[str, int]] = {}
    cursor = None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = live.client.get("/v1/backtest/jobs", params=params).json()
        for job in page["data"]:
            history = live.client.get(f"/v1/backtest/jobs/{job['id']}/events").json()["data"]
            rows[job["id"]] = (job["status"], len(history))
        cursor = page["next_cursor"]
        if not cursor:
            return rows


def _summary(view: JobsView, job_id: str) -> tuple[str, int] | None:
    state = view.get(job_id)
    return None if state is None else (str(state.status), len(view.history(job_id)))


def test_replay_cli_prints_a_history_and_verifies_the_log(crashy: LiveStack,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from cli.main import app

    for key, value in crashy.settings.to_env().items():
        monkeypatch.setenv(key, value)
    job = crashy.client.post("/v1/backtest/jobs", json=grid_config()).json()
    crashy.wait_for(job["id"], lambda j: j["status"] == "done")
    runner = CliRunner()
    shown = runner.invoke(app, ["replay", "--job", job["id"]])
    assert shown.exit_code == 0, shown.output
    lines = [line for line in shown.stdout.splitlines() if line.startswith("{")]
    assert '"JobAccepted"' in lines[0] and '"JobSucceeded"' in lines[-1]
    verified = runner.invoke(app, ["replay", "--verify"])
    assert verified.exit_code == 0, verified.output
