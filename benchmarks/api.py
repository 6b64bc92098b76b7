"""API read-path benchmark: Get Job and List (limit 20) against a bare FastAPI endpoint.

    .venv/bin/python -m benchmarks.api [--requests 4000] [--concurrency 32] [--jobs 1000]

Each server runs in its own process under the same uvicorn settings as `api`
(127.0.0.1 only): the real API app over a JobsView filled with synthetic jobs
(no broker: reads never touch Kafka), and a bare FastAPI app whose one endpoint
returns a fixed JSON body. One async httpx client keeps `concurrency`
connections busy and signs every request, the bare one included, so the client
cost is the same on both sides and the ratios isolate the server's work
(signature check, replay store, weight counter, RocksDB read, serialization).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import random
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx

HOST = "127.0.0.1"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _fill(data_dir: Path, jobs: int) -> list[str]:
    from api.examples import BREAKOUT_CONFIG, GRID_CONFIG
    from projections.jobs_view import JobsView
    from tests.api.conftest import JobWriter

    view = JobsView(data_dir / "view")
    writer = JobWriter(view)
    rng = random.Random(1)
    t0 = 1_767_225_600_000
    ids = []
    for i in range(jobs):
        job_id = f"bt_{i:08x}"
        writer.accept(job_id, "bench", GRID_CONFIG if i % 2 else BREAKOUT_CONFIG, t0 + i * 1000)
        if rng.random() < 0.7:
            writer.start(job_id, t0 + i * 1000 + 10)
            writer.progress(job_id, t0 + i * 1000 + 20, 0.5)
        ids.append(job_id)
    view.close()
    return ids


def _serve_api(data_dir: str, port: int) -> None:
    import uvicorn

    from api.app import create_app
    from pipai.settings import Settings
    from projections.jobs_view import JobsView

    app = create_app(Settings(data_dir=Path(data_dir), api_weight_per_minute=10**9))

    @asynccontextmanager
    async def reads_only(app_: Any) -> AsyncIterator[None]:
        app_.state.view = JobsView(Path(data_dir) / "view")
        app_.state.projection = SimpleNamespace(listeners=[], caught_up=True)
        yield
        app_.state.view.close()

    app.router.lifespan_context = reads_only
    uvicorn.run(app, host=HOST, port=port, log_level="warning", access_log=False)


def _serve_bare(port: int) -> None:
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()
    body = {"id": "bt_3c91ef", "status": "running", "progress": 0.5}

    @app.get("/bare")
    async def bare() -> dict[str, Any]:
        return body

    uvicorn.run(app, host=HOST, port=port, log_level="warning", access_log=False)


async def _ready(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                await client.get(url, timeout=1)
                return
            except httpx.HTTPError:
                await asyncio.sleep(0.05)  # poll interval of a readiness check with a deadline
    raise TimeoutError(url)


async def _run(base: str, paths: list[str], auths: list[httpx.Auth], total: int,
               concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        async def worker(n: int) -> None:
            auth = auths[n % len(auths)]
            for i in range(n, total, concurrency):
                start = time.perf_counter()
                response = await client.get(paths[i % len(paths)], auth=auth)
                latencies.append(time.perf_counter() - start)
                if response.status_code != 200:
                    raise RuntimeError(f"{response.status_code}: {response.text}")

        await asyncio.gather(*(worker(n) for n in range(concurrency)))  # warm-up
        latencies.clear()
        started = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {"rps": len(ordered) / elapsed,
            "p50_ms": statistics.median(ordered) * 1000,
            "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--jobs", type=int, default=1000)
    args = parser.parse_args()

    import logging

    from pipai.client import PipaiAuth
    from pipai.keys import KeyStore

    logging.getLogger("httpx").setLevel(logging.WARNING)  # a log line per request skews the client

    data_dir = Path(tempfile.mkdtemp(prefix="pipai-bench-api-"))
    ids = _fill(data_dir, args.jobs)
    # One key per connection: at thousands of requests/s a single key's strictly increasing
    # timestamps would run ahead of the clock past the 1 s future allowance.
    store = KeyStore(data_dir / "keys.json")
    keys = [store.create("bench") for _ in range(args.concurrency)]
    auths: list[httpx.Auth] = [PipaiAuth(k.api_key, k.secret) for k in keys]

    ctx = mp.get_context("spawn")
    api_port, bare_port = _free_port(), _free_port()
    servers = [ctx.Process(target=_serve_api, args=(str(data_dir), api_port), daemon=True),
               ctx.Process(target=_serve_bare, args=(bare_port,), daemon=True)]
    for proc in servers:
        proc.start()
    try:
        api, bare = f"http://{HOST}:{api_port}", f"http://{HOST}:{bare_port}"
        asyncio.run(_ready(api + "/openapi.json"))
        asyncio.run(_ready(bare + "/bare"))
        rng = random.Random(2)
        runs = {
            "bare FastAPI (fixed body)": (bare, ["/bare"]),
            "Get Job": (api, [f"/v1/backtest/jobs/{rng.choice(ids)}" for _ in range(512)]),
            "List (limit 20)": (api, ["/v1/backtest/jobs?limit=20"]),
        }
        results = {name: asyncio.run(_run(base, paths, auths, args.requests, args.concurrency))
                   for name, (base, paths) in runs.items()}
    finally:
        for proc in servers:
            proc.terminate()
            proc.join(10)
    baseline = results["bare FastAPI (fixed body)"]
    print(f"{args.requests} requests per endpoint, {args.concurrency} connections, "
          f"{args.jobs} jobs, {mp.cpu_count()} CPUs, loopback")
    print(f"{'endpoint':28} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'rps ratio':>10} "
          f"{'p50 ratio':>10}")
    for name, r in results.items():
        print(f"{name:28} {r['rps']:8.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
              f"{r['rps'] / baseline['rps']:10.2f} {r['p50_ms'] / baseline['p50_ms']:10.2f}")


if __name__ == "__main__":
    main()
