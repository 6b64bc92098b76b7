"""Engine jobs on the real broker: cancellation latency, a large job, bad configs.

One stack for the module, paced (`engine_min_job_seconds`) so a job is still
running when the test cancels it; a worker's timing is read from its own
structured log (<data_dir>/logs/engine-0.log) and from the `reports` topic.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from pipai.kafka.clients import consumer_config
from pipai.topics import Topics
from schemas.codec import default_codec
from tests.integration.conftest import LiveStack, grid_config, start_stack

pytestmark = pytest.mark.integration

PACE_S = 4.0  # every job lasts at least this long: time to see it running and cancel it
FIVE = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT"]


@pytest.fixture(scope="module")
def engine_live(kafka_bootstrap: str, market_dir: Path,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    yield from start_stack(tmp_path_factory.mktemp("engine-stack"), kafka_bootstrap, market_dir,
                           engine_min_job_seconds=PACE_S)


def worker_log(live: LiveStack, event: str, job_id: str) -> list[dict[str, Any]]:
    """The engine worker's structured log lines `event` about `job_id`."""
    path = live.settings.data_dir / "logs" / "engine-0.log"
    found = []
    for line in path.read_bytes().splitlines() if path.exists() else []:
        if not line.startswith(b"{"):
            continue  # non-JSON output (librdkafka, warnings)
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if record.get("event") == event and record.get("job_id") == job_id:
            found.append(record)
    return found


def wait_log(live: LiveStack, event: str, job_id: str, timeout_s: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if lines := worker_log(live, event, job_id):
            return lines[-1]
        time.sleep(0.05)  # poll interval; the deadline bounds the wait
    raise AssertionError(f"no {event} for {job_id} in the worker log within {timeout_s}s")


def reports_of(live: LiveStack, job_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Every report the workers produced for `job_id`, read to the topic's end."""
    topic = Topics.for_prefix(live.settings.topic_prefix).reports
    consumer = Consumer(consumer_config(live.settings, None))
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in partitions}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        codec, out = default_codec(), []
        remaining = {p for p, end in ends.items() if end > 0}
        deadline = time.monotonic() + 20
        while remaining and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            partition, offset = int(msg.partition() or 0), int(msg.offset() or 0)
            if offset >= ends[partition] - 1:
                remaining.discard(partition)
            name, record = codec.decode(msg.value())
            if record.get("job_id") == job_id:
                out.append((name, record))
        assert not remaining, f"could not read {topic} to its end"
        return sorted(out, key=lambda r: (at_seconds(r[1]), r[1]["report_seq"]))
    finally:
        consumer.close()


def iso_seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def at_seconds(report: dict[str, Any]) -> float:
    """A report's occurred_at (the codec decodes timestamp-millis to datetime)."""
    value = report["occurred_at"]
    return value.timestamp() if isinstance(value, datetime) else value / 1000


def test_cancelled_job_stops_within_a_second(engine_live: LiveStack) -> None:
    job = engine_live.client.post("/v1/backtest/jobs", json=grid_config(timeframe="1m")).json()
    engine_live.wait_for(job["id"], lambda j: j["status"] == "running")

    response = engine_live.client.post(f"/v1/backtest/jobs/{job['id']}/cancel")
    answered = time.time()
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"

    stopped = wait_log(engine_live, "job_cancelled", job["id"])
    lag = iso_seconds(stopped["timestamp"]) - answered
    print(f"worker stopped {lag:+.3f}s after the cancel's HTTP response")  # shown with -s
    assert lag < 1.0, f"worker stopped {lag:.3f}s after the cancel was answered"
    assert stopped["progress"] < 1.0

    reports = reports_of(engine_live, job["id"])
    assert [name for name, _ in reports][0] == "RunStarted"
    assert "RunCompleted" not in {name for name, _ in reports}
    last = max(at_seconds(r) for _, r in reports)
    assert last < answered + 1.0, "the worker kept reporting after the cancel"
    assert engine_live.client.get(f"/v1/backtest/jobs/{job['id']}").json()["status"] == "cancelled"


def test_two_years_of_1m_bars_on_five_symbols(engine_live: LiveStack) -> None:
    config = grid_config(
        template_id="tpl_sma_cross", params={"fast": 20, "slow": 50}, symbols=FIVE,
        timeframe="1m", start="2024-01-01T00:00:00Z", end="2026-01-01T00:00:00Z",
        fee_model="tiered_maker_taker", fee_bps=None,
    )
    del config["fee_bps"]
    job = engine_live.client.post("/v1/backtest/jobs", json=config)
    assert job.status_code == 201, job.text
    job_id = job.json()["id"]

    done = engine_live.wait_for(job_id, lambda j: j["status"] in ("done", "failed"),
                                timeout_s=90)
    assert done["status"] == "done", done["error"]
    assert done["result"]["metrics"]["total_trades"] > 10_000

    result = engine_live.client.get(f"/v1/backtest/jobs/{job_id}/result")
    assert result.status_code == 200, result.text
    body = result.json()
    assert body["metrics"] == done["result"]["metrics"]
    assert body["trades_total"] == done["result"]["metrics"]["total_trades"]
    assert len(body["trades"]) == 10_000  # the most recent ones; trades_total has the count
    assert 5_000 <= len(body["equity_curve"]) <= 10_000
    assert body["equity_curve"][0]["time"] == "2024-01-01T00:00:00Z"
    assert body["equity_curve"][-1]["time"] == "2026-01-01T00:00:00Z"
    assert {t["symbol"] for t in body["trades"]} == set(FIVE)

    # Progress cadence on the wire: never silent for more than a second (+ slack).
    reports = reports_of(engine_live, job_id)
    names = [name for name, _ in reports]
    assert names[0] == "RunStarted" and names[-1] == "RunCompleted"
    assert names.count("RunProgressed") >= 5
    times = [at_seconds(r) for _, r in reports]
    assert max(b - a for a, b in zip(times, times[1:], strict=False)) <= 1.5


@pytest.mark.parametrize(
    ("overrides", "code", "words"),
    [
        ({"symbols": ["DOGEUSDT"]}, "UNKNOWN_SYMBOL", "DOGEUSDT"),
        ({"start": "2019-01-01T00:00:00Z", "end": "2019-02-01T00:00:00Z"}, "NO_DATA", "BTCUSDT"),
    ],
)
def test_a_config_without_data_fails_the_job_not_the_worker(
    engine_live: LiveStack, overrides: dict[str, Any], code: str, words: str
) -> None:
    worker = engine_live.stack.children["engine-0"]
    bad = engine_live.client.post("/v1/backtest/jobs", json=grid_config(**overrides))
    assert bad.status_code == 201, bad.text  # the API cannot know which data workers have
    failed = engine_live.wait_for(bad.json()["id"], lambda j: j["status"] == "failed")
    assert failed["error"]["code"] == code
    assert words in failed["error"]["message"]
    assert failed["result"] is None

    follower = engine_live.client.post("/v1/backtest/jobs", json=grid_config()).json()
    done = engine_live.wait_for(follower["id"], lambda j: j["status"] in ("done", "failed"))
    assert done["status"] == "done", done["error"]
    assert worker.poll() is None and engine_live.stack.children["engine-0"] is worker
