"""The public API over real HTTP, on a real stack: signing, owners, idempotency, weights, SSE."""

from __future__ import annotations

import concurrent.futures
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api import examples
from cli.stack import demo_key
from pipai.client import Client, IdempotencyConflict, NotFound, PipaiAuth
from pipai.keys import KeyStore
from pipai.signing import sign
from tests.integration.conftest import LiveStack, grid_config
from tests.integration.signed_stack import (
    base_url,
    signed_settings,
    start_signed_stack,
    wait_signed_api,
)

pytestmark = pytest.mark.integration
JOBS = "/v1/backtest/jobs"


@pytest.fixture(scope="module")
def signed_live(kafka_bootstrap: str, market_dir: Path,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    settings = signed_settings(tmp_path_factory.mktemp("signed"), kafka_bootstrap, market_dir,
                               engine_min_job_seconds=3.0)
    yield from start_signed_stack(settings)


def _sdk(live: LiveStack, api_key: str | None = None, secret: str | None = None) -> Client:
    key = demo_key(live.settings)
    return Client(base_url(live.settings), api_key or key.api_key, secret or key.secret)


def _code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


def test_unsigned_and_forged_requests_are_refused(signed_live: LiveStack) -> None:
    url = base_url(signed_live.settings) + JOBS
    key = demo_key(signed_live.settings)
    assert _code(httpx.get(url)) == "UNAUTHORIZED"
    assert _code(httpx.get(url, headers={"X-PipAI-API-Key": key.api_key})) == "UNAUTHORIZED"
    ts = str(int(time.time() * 1000))
    forged = {"X-PipAI-API-Key": key.api_key, "X-PipAI-Timestamp": ts,
              "X-PipAI-Signature": sign("not-the-secret", ts, "GET", JOBS)}
    response = httpx.get(url, headers=forged)
    assert response.status_code == 401 and _code(response) == "INVALID_SIGNATURE"
    assert "X-PipAI-Used-Weight-1m" in response.headers


def test_replayed_request_is_refused(signed_live: LiveStack) -> None:
    key = demo_key(signed_live.settings)
    ts = str(int(time.time() * 1000))
    target = f"{JOBS}?limit=3"
    headers = {"X-PipAI-API-Key": key.api_key, "X-PipAI-Timestamp": ts,
               "X-PipAI-Signature": sign(key.secret, ts, "GET", target)}
    url = base_url(signed_live.settings) + target
    assert httpx.get(url, headers=headers).status_code == 200
    again = httpx.get(url, headers=headers)
    assert again.status_code == 401 and _code(again) == "INVALID_SIGNATURE"
    stale = {**headers, "X-PipAI-Timestamp": str(int(ts) - 60_000)}
    stale["X-PipAI-Signature"] = sign(key.secret, stale["X-PipAI-Timestamp"], "GET", target)
    assert _code(httpx.get(url, headers=stale)) == "TIMESTAMP_OUT_OF_WINDOW"


def test_changed_body_is_refused_on_create(signed_live: LiveStack) -> None:
    key = demo_key(signed_live.settings)
    ts = str(int(time.time() * 1000))
    signed_body = b'{"template_id": "tpl_grid"}'
    headers = {"X-PipAI-API-Key": key.api_key, "X-PipAI-Timestamp": ts,
               "X-PipAI-Signature": sign(key.secret, ts, "POST", JOBS, signed_body),
               "Content-Type": "application/json"}
    response = httpx.post(base_url(signed_live.settings) + JOBS, headers=headers,
                          content=b'{"template_id": "tpl_breakout"}')
    assert response.status_code == 401 and _code(response) == "INVALID_SIGNATURE"


def test_other_owner_sees_not_found_everywhere_and_cannot_cancel(signed_live: LiveStack) -> None:
    job = signed_live.client.post(JOBS, json=grid_config()).json()
    intruder = KeyStore(signed_live.settings.data_dir / "keys.json").create("mallory")
    with httpx.Client(base_url=base_url(signed_live.settings), timeout=30,
                      auth=PipaiAuth(intruder.api_key, intruder.secret)) as other:
        for method, path in (("GET", f"{JOBS}/{job['id']}"),
                             ("GET", f"{JOBS}/{job['id']}/result"),
                             ("GET", f"{JOBS}/{job['id']}/events"),
                             ("GET", f"{JOBS}/{job['id']}/events?stream=true"),
                             ("POST", f"{JOBS}/{job['id']}/cancel")):
            response = other.request(method, path)
            assert response.status_code == 404 and _code(response) == "NOT_FOUND", path
        assert job["id"] not in [j["id"] for j in other.get(JOBS).json()["data"]]
    assert signed_live.client.get(f"{JOBS}/{job['id']}").json()["status"] != "cancelled"


def test_revoked_key_is_unauthorized(signed_live: LiveStack) -> None:
    store = KeyStore(signed_live.settings.data_dir / "keys.json")
    key = store.create("temp")
    api = _sdk(signed_live, key.api_key, key.secret)
    assert api.list_jobs(limit=1)["data"] == []
    store.revoke(key.api_key)
    revoked_at = time.monotonic()
    # Another process's revocation: the API re-reads the key file within 0.25 s (docs/api.md).
    while (response := api.http.get(JOBS)).status_code == 200:
        assert time.monotonic() - revoked_at < 0.5, "a revoked key still accepted after 0.5 s"
    assert response.status_code == 401 and _code(response) == "UNAUTHORIZED"


def test_idempotent_create(signed_live: LiveStack) -> None:
    key = f"sweep-{uuid.uuid4().hex}"
    first = signed_live.client.post(JOBS, json=grid_config(), headers={"Idempotency-Key": key})
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = signed_live.client.post(JOBS, json=grid_config(), headers={"Idempotency-Key": key})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    # The same config with keys in another order is the same request.
    reordered = dict(reversed(list(grid_config().items())))
    assert signed_live.client.post(JOBS, json=reordered,
                                   headers={"Idempotency-Key": key}).json()["id"] == \
        first.json()["id"]
    other = signed_live.client.post(JOBS, json=grid_config(capital="20000.00"),
                                    headers={"Idempotency-Key": key})
    assert other.status_code == 409 and _code(other) == "IDEMPOTENCY_CONFLICT"


def test_concurrent_retries_with_one_key_make_one_job(signed_live: LiveStack) -> None:
    key = f"race-{uuid.uuid4().hex}"
    api = _sdk(signed_live)

    def submit(_: int) -> str:
        return str(api.create_job(grid_config(), idempotency_key=key)["id"])

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(submit, range(8)))
    assert len(ids) == 1
    assert time.monotonic() - started < 10  # nobody waited for a decision that never comes
    assert [j["id"] for j in api.iter_jobs() if j["id"] in ids] == list(ids)


def test_idempotency_survives_an_api_restart(signed_live: LiveStack) -> None:
    key = f"restart-{uuid.uuid4().hex}"
    first = signed_live.client.post(JOBS, json=grid_config(), headers={"Idempotency-Key": key})
    assert first.status_code == 201
    stack = signed_live.stack
    from pipai.processes import stop

    stop(stack.children.pop("api"))
    stack.start_process("api", "api")
    wait_signed_api(stack, demo_key(signed_live.settings))
    api = _sdk(signed_live)
    assert api.create_job(grid_config(), idempotency_key=key)["id"] == first.json()["id"]
    with pytest.raises(IdempotencyConflict):
        api.create_job(grid_config(leverage=2), idempotency_key=key)


def test_cancel_answers_like_the_seed_page(signed_live: LiveStack) -> None:
    job = signed_live.client.post(JOBS, json=grid_config()).json()
    signed_live.wait_for(job["id"], lambda j: j["status"] == "running")
    response = signed_live.client.post(f"{JOBS}/{job['id']}/cancel",
                                       json=examples.CANCEL_REQUEST)
    assert response.status_code == 200
    cancelled = response.json()
    assert list(cancelled) == list(examples.CANCELLED_JOB)
    assert list(cancelled["config"]) == list(grid_config())
    assert cancelled["status"] == "cancelled" and cancelled["result"] is None
    assert cancelled["error"] is None and cancelled["finished_at"].endswith("Z")
    assert 0.0 <= cancelled["progress"] <= 1.0
    assert int(response.headers["X-PipAI-Used-Weight-1m"]) >= 5


def test_sse_follows_a_job_to_the_end(signed_live: LiveStack) -> None:
    api = _sdk(signed_live)
    job = api.create_job(grid_config())
    events = list(api.stream_events(job["id"]))
    assert events[0]["type"] == "JobAccepted" and events[-1]["type"] == "JobSucceeded"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert api.get_result(job["id"])["metrics"] == api.get_job(job["id"])["result"]["metrics"]
    with pytest.raises(NotFound):
        api.get_job("bt_missing")


def test_secrets_never_reach_the_process_logs(signed_live: LiveStack) -> None:
    secrets = [k.secret for k in KeyStore(signed_live.settings.data_dir / "keys.json").all()]
    logs = list((signed_live.settings.data_dir / "logs").glob("*.log"))
    assert logs
    for path in logs:
        text = path.read_text(errors="replace")
        for secret in secrets:
            assert secret not in text, path.name


def test_cli_submit_watch_list_result_plot(signed_live: LiveStack, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from cli.main import app

    env = {"PIPAI_API_URL": base_url(signed_live.settings),
           "PIPAI_DATA_DIR": str(signed_live.settings.data_dir),
           "PIPAI_API_KEY": "", "PIPAI_API_SECRET": "", "COLUMNS": "200"}
    config = tmp_path / "config.json"
    config.write_text(json.dumps(grid_config()))
    runner = CliRunner()
    submitted = runner.invoke(app, ["submit", str(config), "--watch", "--json"], env=env)
    assert submitted.exit_code == 0, submitted.output
    job_id = json.loads(submitted.stdout[:submitted.stdout.index("\n}") + 2])["id"]
    assert "done" in submitted.output
    listed = runner.invoke(app, ["list", "--status", "done", "--json", "--limit", "200"], env=env)
    assert job_id in [j["id"] for j in json.loads(listed.stdout)]
    assert runner.invoke(app, ["result", job_id], env=env).exit_code == 0
    plotted = runner.invoke(app, ["plot", job_id], env=env)
    assert plotted.exit_code == 0 and any(c in plotted.stdout for c in "▁▂▃▄▅▆▇█")
    missing = runner.invoke(app, ["get", "bt_missing"], env=env)
    assert missing.exit_code == 1 and "NOT_FOUND" in missing.output
