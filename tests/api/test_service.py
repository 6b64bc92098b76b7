"""JobsService without a broker: the in-process view and a fake command bus (conftest.py).

What is checked is the use case itself: ids, hashes, the pre-checks (answered with
the decider's own codes and texts), what reaches the bus, and the outcome values.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import orjson
import pytest

from api.auth import Caller
from api.errors import ApiError
from api.examples import BREAKOUT_CONFIG, GRID_CONFIG
from api.replica import JobsReplica
from api.service import (
    Decided,
    JobsService,
    NotAccepted,
    Pending,
    job_id_for_key,
    request_hash,
)
from jobs.decider import IDEMPOTENCY_CONFLICT, INVALID_STATE, NOT_FOUND, decide
from jobs.messages import CancelJob, CommandRejected, SubmitJob
from jobs.statuses import CANCELLED, QUEUED
from tests.api.conftest import ApiHarness, ms

ALICE = Caller(api_key="pk_alice", owner="alice")
MALLORY = Caller(api_key="pk_mallory", owner="mallory")
T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def service_of(h: ApiHarness) -> JobsService:
    ids = iter(f"{i:032x}" for i in range(1, 1000))
    replica = JobsReplica(h.view, h.app.state.projection, h.app.state.documents)
    return JobsService(replica, h.commands,
                       now_ms=lambda: ms("2026-05-01T00:00:00Z"), new_id=lambda: next(ids))


def rejection(h: ApiHarness, command: SubmitJob | CancelJob) -> CommandRejected:
    """What the orchestrator's decider answers to `command` on the view's state."""
    state = h.view.get(command.job_id)
    assert state is not None
    [event] = decide(state, command)
    assert isinstance(event, CommandRejected)
    return event


def test_submit_sends_one_command_and_answers_the_accepted_job(harness: ApiHarness) -> None:
    outcome = run(service_of(harness).submit(ALICE, GRID_CONFIG, request_id="req-1"))
    assert isinstance(outcome, Decided) and not outcome.replayed
    assert outcome.job.status == QUEUED and outcome.job.owner == "alice"
    [command] = harness.commands.sent
    assert isinstance(command, SubmitJob)
    assert command.job_id == outcome.job.job_id and command.job_id.startswith("bt_")
    assert len(command.job_id) == 3 + 16
    assert command.config_json == orjson.dumps(GRID_CONFIG).decode()  # as sent, key order kept
    assert command.request_hash == request_hash(GRID_CONFIG)
    assert command.correlation_id == "req-1"
    assert command.submitted_at == ms("2026-05-01T00:00:00Z")


def test_without_request_id_the_command_correlates_with_itself(harness: ApiHarness) -> None:
    run(service_of(harness).submit(ALICE, GRID_CONFIG))
    [command] = harness.commands.sent
    assert command.correlation_id == command.command_id


def test_the_request_hash_ignores_key_order() -> None:
    reordered = dict(reversed(list(GRID_CONFIG.items())))
    assert list(reordered) != list(GRID_CONFIG)
    assert request_hash(reordered) == request_hash(GRID_CONFIG)
    assert request_hash(BREAKOUT_CONFIG) != request_hash(GRID_CONFIG)


def test_the_job_id_of_a_key_is_per_owner_and_stable() -> None:
    assert job_id_for_key("alice", "k1") == job_id_for_key("alice", "k1")
    assert job_id_for_key("alice", "k1") != job_id_for_key("mallory", "k1")
    assert job_id_for_key("alice", "k1") != job_id_for_key("alice", "k2")


def test_a_retried_key_replays_the_job_without_a_second_command(harness: ApiHarness) -> None:
    service = service_of(harness)
    first = run(service.submit(ALICE, GRID_CONFIG, idempotency_key="k1"))
    reordered = dict(reversed(list(GRID_CONFIG.items())))
    again = run(service.submit(ALICE, reordered, idempotency_key="k1"))
    assert isinstance(first, Decided) and isinstance(again, Decided)
    assert first.job.job_id == again.job.job_id == job_id_for_key("alice", "k1")
    assert not first.replayed and again.replayed
    assert len(harness.commands.sent) == 1


def test_a_key_reused_with_another_body_is_the_deciders_conflict(harness: ApiHarness) -> None:
    service = service_of(harness)
    run(service.submit(ALICE, GRID_CONFIG, idempotency_key="k1"))
    with pytest.raises(ApiError) as raised:
        run(service.submit(ALICE, BREAKOUT_CONFIG, idempotency_key="k1"))
    other = SubmitJob(command_id="c", job_id=job_id_for_key("alice", "k1"), owner="alice",
                      config_json="{}", submitted_at=1, correlation_id="c",
                      idempotency_key="k1", request_hash=request_hash(BREAKOUT_CONFIG))
    expected = rejection(harness, other)
    assert raised.value.code == expected.error_code == IDEMPOTENCY_CONFLICT
    assert raised.value.message == expected.error_message
    assert len(harness.commands.sent) == 1


def test_a_concurrent_retry_that_won_is_answered_as_a_replay(harness: ApiHarness) -> None:
    job_id = job_id_for_key("alice", "k1")
    racer = SubmitJob(command_id="racer", job_id=job_id, owner="alice",
                      config_json=orjson.dumps(GRID_CONFIG).decode(), submitted_at=1,
                      correlation_id="racer", idempotency_key="k1",
                      request_hash=request_hash(GRID_CONFIG))
    harness.commands.before_decide.append(racer)
    outcome = run(service_of(harness).submit(ALICE, GRID_CONFIG, idempotency_key="k1"))
    assert isinstance(outcome, Decided) and outcome.replayed
    state = harness.view.get(job_id)
    assert state is not None and state.correlation_id == "racer"


def test_an_invalid_config_is_refused_before_anything_is_sent(harness: ApiHarness) -> None:
    bad = {**GRID_CONFIG, "leverage": 0}
    with pytest.raises(ApiError) as raised:
        run(service_of(harness).submit(ALICE, bad))
    assert raised.value.code == "INVALID_PARAMETER" and raised.value.message.startswith(
        "leverage:")
    assert harness.commands.sent == []


def test_a_timeframe_finer_than_the_data_is_refused_naming_the_finest(
    harness: ApiHarness, tmp_path: Path
) -> None:
    """A daily series run as 1m returned nonsense (CAGR ~1e29): refused at submit."""
    from engine.marketdata.bars import Bars
    from engine.marketdata.store import MarketDataStore

    store = MarketDataStore(tmp_path / "market")
    days = np.arange(400, dtype=np.int64) * 86_400_000 + ms("2024-01-01T00:00:00Z")
    price = np.linspace(100.0, 200.0, days.shape[0])
    store.write_base("BTCUSDT", "1d", Bars.from_arrays(days, price, price, price, price,
                                                      np.ones_like(price)), "import")
    service = service_of(harness)
    service.finest_timeframe = store.finest_timeframe
    with pytest.raises(ApiError) as raised:
        run(service.submit(ALICE, {**GRID_CONFIG, "timeframe": "1h"}))
    assert raised.value.code == "INVALID_PARAMETER"
    assert raised.value.message == ("timeframe: BTCUSDT has 1d bars at the finest: a 1h run "
                                    "needs finer data (use 1d or coarser)")
    assert harness.commands.sent == []
    outcome = run(service.submit(ALICE, {**GRID_CONFIG, "timeframe": "1d"}))
    assert isinstance(outcome, Decided)  # the data's own timeframe (or coarser) runs
    assert store.finest_timeframe("ETHUSDT") == "1m"  # synthetic, not generated yet
    assert store.finest_timeframe("NOPEUSDT") is None  # unknown: left to the workers


def test_while_catching_up_a_valid_submit_is_unavailable(harness: ApiHarness) -> None:
    harness.app.state.projection.caught_up = False
    service = service_of(harness)
    with pytest.raises(ApiError) as raised:
        run(service.submit(ALICE, GRID_CONFIG))
    assert raised.value.code == "UNAVAILABLE" and raised.value.headers == {"Retry-After": "1"}
    with pytest.raises(ApiError) as invalid:  # the config is still checked first
        run(service.submit(ALICE, {**GRID_CONFIG, "leverage": 0}))
    assert invalid.value.code == "INVALID_PARAMETER"
    assert harness.commands.sent == []


@pytest.mark.parametrize(("mode", "outcome"), [("pending", Pending), ("not_on_log", NotAccepted)])
def test_an_undecided_command_is_an_outcome_not_an_error(harness: ApiHarness, mode: str,
                                                         outcome: type) -> None:
    harness.commands.mode = mode  # type: ignore[assignment]
    submitted = run(service_of(harness).submit(ALICE, GRID_CONFIG, idempotency_key="k1"))
    assert submitted == outcome(job_id_for_key("alice", "k1"))
    harness.jobs.accept("bt_q", "alice", GRID_CONFIG, ms("2026-01-01T00:00:00Z"))
    assert run(service_of(harness).cancel(ALICE, "bt_q")) == outcome("bt_q")


def test_cancel_decides_and_answers_the_cancelled_job(harness: ApiHarness) -> None:
    harness.jobs.accept("bt_q", "alice", GRID_CONFIG, ms("2026-01-01T00:00:00Z"))
    outcome = run(service_of(harness).cancel(ALICE, "bt_q", reason="superseded",
                                             request_id="req-9"))
    assert isinstance(outcome, Decided) and outcome.job.status == CANCELLED
    assert outcome.job.cancel_reason == "superseded"
    [command] = harness.commands.sent
    assert isinstance(command, CancelJob) and command.correlation_id == "req-9"


@pytest.mark.parametrize("caller", [ALICE, MALLORY])
def test_cancel_of_a_job_the_caller_cannot_see_is_not_found(harness: ApiHarness,
                                                           caller: Caller) -> None:
    harness.jobs.accept("bt_q", "alice", GRID_CONFIG, ms("2026-01-01T00:00:00Z"))
    job_id = "bt_q" if caller is MALLORY else "bt_missing"
    with pytest.raises(ApiError) as raised:
        run(service_of(harness).cancel(caller, job_id))
    assert (raised.value.code, raised.value.message) == (NOT_FOUND, f"job {job_id} not found")
    assert harness.commands.sent == []


def test_cancel_of_a_terminal_job_is_the_deciders_invalid_state(harness: ApiHarness) -> None:
    harness.jobs.accept("bt_q", "alice", GRID_CONFIG, ms("2026-01-01T00:00:00Z"))
    harness.jobs.cancel("bt_q", ms("2026-01-01T00:00:01Z"), 0.0)
    with pytest.raises(ApiError) as raised:
        run(service_of(harness).cancel(ALICE, "bt_q"))
    expected = rejection(harness, CancelJob(command_id="c", job_id="bt_q", owner="alice",
                                            issued_at=1, correlation_id="c"))
    assert raised.value.code == expected.error_code == INVALID_STATE
    assert raised.value.message == expected.error_message == "job bt_q is already cancelled"
    assert harness.commands.sent == []
