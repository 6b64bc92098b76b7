"""API read-path benchmark under wrk: bare FastAPI, Get Job, List, Get Result, SSE fan-out.

    .venv/bin/python -m benchmarks.api [--duration 10] [--connections 64] [--jobs 2000]
                                       [--sse-clients 100] [--sse-rate 20] [--py-spy DIR]

Needs `wrk` and `taskset`; no broker. Load generator and server each get one core:
every server runs alone under `taskset -c 1` (uvicorn, 1 worker, the settings of
`api.app.main`: 127.0.0.1, log_level warning, no access log), `wrk -t1` under
`taskset -c 0`. The targets run one after the other in one invocation, each with a
2 s warm-up, and are printed side by side with their ratio to the bare app:

- bare FastAPI: one route returning a fixed job object (examples.DONE_JOB, the size
  of a Get Job answer) encoded by orjson on each request. No middleware, no dependency, no
  signature check, no weight, no read: the headers wrk signs are sent and ignored.
- Get Job `/v1/backtest/jobs/{id}` over 1,000 done jobs, List
  `?status=done&limit=20`, and Get Result of a one-year 1h grid job (the
  examples.GRID_CONFIG job run by the engine, its result document stored as the
  projection stores it): the real app (`api.app.create_app`, all its middleware,
  error handlers and routes) over a JobsView filled with synthetic jobs. Only the
  lifespan differs: no projection thread and no producer (reads need no broker).
- SSE fan-out: `--sse-clients` streams (`?stream=true`) on one running job, while a
  feeder thread in the server appends a JobProgressed every 1/`--sse-rate` s to the
  view and tells the streams' listeners, as the projection thread does. wrk cannot
  read streams, so a small asyncio client (raw sockets, one process under
  `taskset -c 0`) holds them and reports the events delivered per second and the
  latency from append (the event's occurred_at, whole ms) to receipt.

Signing: every request is signed as docs/api.md ("Signed requests") says and fully
verified by the server: HMAC-SHA256 computed and compared (constant time), the
receive window, the restart bound, the replay store (each signature once) and the
weight counter (in memory, moving window). wrk signs each request as it sends it
(benchmarks/wrk_signed.lua: SHA-256 in LuaJIT, timestamp = the wall clock in ms),
rotating over 256 keys of one owner, so no signature repeats and nothing is turned
off. The one difference from the defaults: the weight budget is 10^9 per minute
(counted, never reached) instead of 1,200, so no request gets 429.

Ends with one JSON line: {"benchmark": "api", "bare_rps", "get_job_rps", "get_job_ratio",
"list_rps", "list_ratio", "get_result_rps", "sse_…", and p50/p99 in ms}. With
--py-spy DIR, each API target's measured run is also sampled by py-spy (raw
collapsed stacks in DIR; the sampling costs CPU, so those figures are not for comparison).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pipai.signing import MAX_FUTURE_MS

HOST = "127.0.0.1"
OWNER = "bench"
LUA = Path(__file__).with_name("wrk_signed.lua")
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z: the synthetic jobs' submitted_at start
RESULT_JOB = "bt_result_1y_1h"
SSE_JOB = "bt_sse_running"
SERVER_CPU, CLIENT_CPU = "1", "0"


# ---- fixtures: keys, a view of synthetic jobs, a real result document -------------------

def _keys(data_dir: Path, count: int) -> Path:
    """`count` keys of OWNER in the API's key store, and the "api_key secret" file for wrk."""
    from pipai.keys import KeyStore

    store = KeyStore(data_dir / "keys.json")
    keys = [store.create(OWNER) for _ in range(count)]
    path = data_dir / "wrk-keys.txt"
    path.write_text("".join(f"{k.api_key} {k.secret}\n" for k in keys))
    return path


def _result_document(data_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The metrics and result document of examples.GRID_CONFIG (one year of 1h BTCUSDT),
    run by the engine and rendered as the engine worker renders them."""
    from api.examples import GRID_CONFIG
    from engine import MarketDataStore, parse_config, run_backtest
    from workers.engine_worker import _rendered

    result = run_backtest(parse_config(GRID_CONFIG), MarketDataStore(data_dir / "market"),
                          lambda _fraction: None)
    rendered = _rendered(result)
    return rendered.metrics.as_dict(), json.loads(rendered.document_json)


def _fill(view_dir: Path, jobs: int, data_dir: Path) -> list[str]:
    """`jobs` jobs of OWNER (2 in 5 done, the rest running or queued) plus as many of
    another owner, and the result job; the ids of OWNER's done jobs."""
    from api.examples import BREAKOUT_CONFIG, GRID_CONFIG
    from projections.jobs_view import JobsView
    from tests.api.conftest import JobWriter

    metrics, document = _result_document(data_dir)
    view = JobsView(view_dir)
    writer = JobWriter(view)
    done: list[str] = []
    for i in range(2 * jobs):
        job_id, owner, at = f"bt_{i:08x}", OWNER if i % 2 == 0 else "other", T0 + i * 1000
        writer.accept(job_id, owner, GRID_CONFIG if i % 3 else BREAKOUT_CONFIG, at)
        if i % 5 == 4:
            continue  # queued
        writer.start(job_id, at + 8000)
        writer.progress(job_id, at + 9000, 0.5)
        if i % 5 < 2:
            writer.succeed(job_id, at + 160_000, metrics)
            done += [job_id] if owner == OWNER else []
    writer.accept(RESULT_JOB, OWNER, GRID_CONFIG, T0 - 1000)
    writer.start(RESULT_JOB, T0 - 900)
    writer.succeed(RESULT_JOB, T0 - 100, metrics, result=document)
    view.close()
    return done


# ---- servers (each its own process, pinned) ----------------------------------------------

def _serve_bare(port: int) -> None:
    import orjson
    import uvicorn
    from fastapi import FastAPI, Response

    from api.examples import DONE_JOB

    app = FastAPI()

    @app.get("/bare")
    async def bare() -> Response:
        return Response(orjson.dumps(DONE_JOB), media_type="application/json")

    uvicorn.run(app, host=HOST, port=port, log_level="warning", access_log=False)


def _api_app(data_dir: Path, view_dir: Path, feed_rate: float | None = None) -> Any:
    """The real app over the view in `view_dir`, lifespan without broker; with `feed_rate`,
    a feeder thread appends progress events of SSE_JOB as the projection would."""
    from api.app import create_app
    from pipai.settings import Settings
    from projections.jobs_view import JobsView

    app = create_app(Settings(data_dir=data_dir, api_weight_per_minute=10**9))

    @asynccontextmanager
    async def reads_only(app_: Any) -> AsyncIterator[None]:
        app_.state.verifier.started(int(time.time() * 1000))
        app_.state.view = JobsView(view_dir)
        app_.state.projection = SimpleNamespace(listeners=[], caught_up=True)
        gc.freeze()  # as api/app.py's lifespan does once the view is open
        stop = threading.Event()
        if feed_rate:
            threading.Thread(target=_feed, args=(app_.state, feed_rate, stop), daemon=True,
                             name="feeder").start()
        yield
        stop.set()
        app_.state.view.close()

    app.router.lifespan_context = reads_only
    return app


def _feed(state: Any, rate: float, stop: threading.Event) -> None:
    """JobProgressed events of SSE_JOB, `rate` a second, applied then announced to the
    listeners in one thread, as projections/runner.py's ProjectionRunner does."""
    from jobs.messages import JobProgressed, event_id_for

    seq = len(state.view.history(SSE_JOB))
    next_at = time.monotonic()
    while not stop.wait(max(0.0, next_at - time.monotonic())):
        next_at += 1 / rate
        seq += 1
        event = JobProgressed(event_id=event_id_for(SSE_JOB, seq), job_id=SSE_JOB, seq=seq,
                              occurred_at=int(time.time() * 1000), causation_id=f"c-{seq}",
                              correlation_id="corr-sse", attempt=1,
                              progress=min(0.99, seq / 1e6))
        changed = state.view.apply([event], [], {})
        for listener in list(state.projection.listeners):
            listener([event], changed)


def _serve(kind: str, data_dir: Path, port: int, feed_rate: float) -> None:
    import uvicorn

    if kind == "bare":
        _serve_bare(port)
        return
    view_dir = data_dir / ("sse-view" if kind == "sse" else "view")
    app = _api_app(data_dir, view_dir, feed_rate if kind == "sse" else None)
    uvicorn.run(app, host=HOST, port=port, log_level="warning", access_log=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@contextmanager
def _server(kind: str, data_dir: Path, feed_rate: float = 0.0) -> Iterator[tuple[str, int]]:
    """(base URL, pid) of a `kind` server under taskset on SERVER_CPU, until the block ends."""
    port = _free_port()
    proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, sys.executable, "-m", "benchmarks.api",
                             "--serve", kind, "--data-dir", str(data_dir), "--port", str(port),
                             "--sse-rate", str(feed_rate)])
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{kind} server did not start") from None
                time.sleep(0.1)  # poll interval of a readiness check with a deadline
        # The restart bound (docs/api.md, "Replays and restarts"): a request signed within
        # MAX_FUTURE_MS of the server's start is refused 503.
        time.sleep(MAX_FUTURE_MS / 1000 + 0.1)
        yield f"http://{HOST}:{port}", proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


# ---- load: wrk for request/response, an asyncio client for SSE ---------------------------

def _signed_headers(key: str, secret: str, target: str) -> dict[str, str]:
    from pipai import signing

    ts = str(int(time.time() * 1000))
    return {signing.API_KEY_HEADER: key, signing.TIMESTAMP_HEADER: ts,
            signing.SIGNATURE_HEADER: signing.sign(secret, ts, "GET", target)}


def _check(base: str, target: str, keys_file: Path) -> int:
    """One signed request through urllib: it must answer 200. The body's size."""
    key, secret = keys_file.read_text().split("\n", 1)[0].split()
    request = urllib.request.Request(base + target, headers=_signed_headers(key, secret, target))
    with urllib.request.urlopen(request, timeout=10) as response:
        return len(response.read())


def _wrk(base: str, targets: list[str], keys_file: Path, args: argparse.Namespace,
         seconds: float, pid: int | None = None, profile: Path | None = None) -> dict[str, Any]:
    targets_file = keys_file.with_name("wrk-targets.txt")
    targets_file.write_text("".join(t + "\n" for t in targets))
    whole_s = max(1, round(seconds))  # wrk takes whole seconds
    spy = None
    if profile is not None and pid is not None:
        spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "-p",
                                str(pid), "-d", str(whole_s), "-r", "200", "-f", "raw",
                                "-o", str(profile)], stdout=subprocess.DEVNULL)
    server_cpu = _cpu_seconds(pid) if pid is not None else 0.0
    client_cpu = _children_cpu_seconds()
    started = time.monotonic()
    out = subprocess.run(["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{args.connections}",
                          f"-d{whole_s}s", "--timeout", "10s", "-s", str(LUA), base + targets[0],
                          "--", str(keys_file), str(targets_file)],
                         capture_output=True, text=True, check=True).stdout
    elapsed = time.monotonic() - started
    # Which side saturated: each one's CPU time over the run (1.0 = its whole core).
    busy = {"server_cpu": (_cpu_seconds(pid) - server_cpu) / elapsed if pid is not None else None,
            "client_cpu": (_children_cpu_seconds() - client_cpu) / elapsed}
    if spy is not None:
        spy.wait()
    figures: dict[str, Any] = json.loads(next(line for line in out.splitlines()
                                              if line.startswith('{"wrk"')))
    errors = sum(figures[k] for k in ("non2xx", "connect_errors", "read_errors",
                                      "write_errors", "timeouts"))
    if errors:
        raise RuntimeError(f"wrk saw {errors} errors on {targets[0]}: {figures}")
    return {"rps": figures["requests"] / (figures["duration_us"] / 1e6),
            "p50_ms": figures["p50_us"] / 1000, "p99_ms": figures["p99_us"] / 1000,
            "bytes": figures["bytes"] / max(1, figures["requests"]), **busy}


def _load(base: str, targets: list[str], keys_file: Path, args: argparse.Namespace,
          pid: int, name: str) -> dict[str, Any]:
    size = _check(base, targets[0], keys_file)
    _wrk(base, targets, keys_file, args, args.warmup)
    profile = args.py_spy / f"{name}.txt" if args.py_spy else None
    return {**_wrk(base, targets, keys_file, args, args.duration, pid, profile), "body": size}


# ---- SSE client ---------------------------------------------------------------------------

async def _stream(base: str, target: str, key_secret: list[str], window: dict[str, float],
                  latencies: list[float], connected: asyncio.Event, count: list[int]) -> None:
    """One SSE stream over a raw socket (chunked transfer): the latency of each event
    received inside the measuring window."""
    import datetime as dt

    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    signed = _signed_headers(key_secret[0], key_secret[1], target)
    headers = "".join(f"{k}: {v}\r\n" for k, v in signed.items())
    writer.write(f"GET {target} HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head.decode(errors="replace"))
    count[0] += 1
    if count[0] == window["clients"]:
        connected.set()
    while size := int((await reader.readline()).strip() or b"0", 16):
        chunk = await reader.readexactly(size + 2)
        now = time.time() * 1000
        if window["start"] <= now < window["end"] and (at := chunk.find(b'"occurred_at":"')) >= 0:
            stamp = chunk[at + 15:at + 39].decode()
            latencies.append(now - dt.datetime.fromisoformat(stamp).timestamp() * 1000)
    writer.close()


async def _sse_clients(base: str, keys_file: Path, clients: int, seconds: float) -> dict[str, Any]:
    pairs = [line.split() for line in keys_file.read_text().splitlines()]
    target = f"/v1/backtest/jobs/{SSE_JOB}/events?stream=true"
    window = {"clients": clients, "start": float("inf"), "end": float("inf")}
    latencies: list[float] = []
    connected, count = asyncio.Event(), [0]
    tasks = [asyncio.create_task(_stream(base, target, pairs[i % len(pairs)], window, latencies,
                                         connected, count)) for i in range(clients)]
    await asyncio.wait_for(connected.wait(), 30)
    await asyncio.sleep(1.0)  # the history replayed on connecting is over: live events only
    window["start"] = time.time() * 1000
    window["end"] = window["start"] + seconds * 1000
    await asyncio.sleep(seconds + 0.5)
    for task in tasks:
        task.cancel()
    ordered = sorted(latencies)
    return {"streams": count[0], "delivered_eps": len(ordered) / seconds,
            "p50_ms": ordered[len(ordered) // 2] if ordered else None,
            "p99_ms": ordered[int(len(ordered) * 0.99)] if ordered else None}


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _sse(data_dir: Path, keys_file: Path, args: argparse.Namespace) -> dict[str, Any]:
    from api.examples import GRID_CONFIG
    from projections.jobs_view import JobsView
    from tests.api.conftest import JobWriter

    view = JobsView(data_dir / "sse-view")
    writer = JobWriter(view)
    writer.accept(SSE_JOB, OWNER, GRID_CONFIG, T0)
    writer.start(SSE_JOB, T0 + 1000)
    view.close()
    with _server("sse", data_dir, args.sse_rate) as (base, pid):
        cpu = _cpu_seconds(pid)
        out = subprocess.run(
            ["taskset", "-c", CLIENT_CPU, sys.executable, "-m", "benchmarks.api", "--sse-client",
             base, "--data-dir", str(data_dir), "--sse-clients", str(args.sse_clients),
             "--duration", str(args.duration)], capture_output=True, text=True, check=True)
        cpu = (_cpu_seconds(pid) - cpu) / (args.duration + 1.5)
    return {**json.loads(out.stdout.splitlines()[-1]), "server_cpu": cpu}


# ---- report -------------------------------------------------------------------------------

def _report(results: dict[str, dict[str, Any]], sse: dict[str, Any],
            args: argparse.Namespace) -> None:
    bare = results["bare FastAPI"]["rps"]
    print(f"\nwrk -t1 -c{args.connections}, {args.duration:g} s per target (after "
          f"{args.warmup:g} s warm-up); wrk on CPU {CLIENT_CPU}, server on CPU {SERVER_CPU}")
    print(f"{'target':34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'x bare':>7} {'bytes':>8} "
          f"{'server':>7} {'wrk':>5}")
    for name, r in results.items():
        print(f"{name:34} {r['rps']:8.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
              f"{r['rps'] / bare:7.2f} {r['body']:8d} {r['server_cpu']:7.0%} "
              f"{r['client_cpu']:5.0%}")
    print("server, wrk: CPU time / wall time of each over the measured run (100% = its core)")
    print(f"SSE: {sse['streams']} streams on one job, {args.sse_rate:g} events/s appended: "
          f"{sse['delivered_eps']:.0f} events/s delivered, append->receipt p50 "
          f"{sse['p50_ms']:.1f} ms, p99 {sse['p99_ms']:.1f} ms (whole-ms stamps), "
          f"server CPU {sse['server_cpu']:.0%}")
    line: dict[str, Any] = {"benchmark": "api"}
    for key, r in zip(("bare", "get_job", "list", "get_result"), results.values(), strict=True):
        line |= {f"{key}_rps": round(r["rps"]), f"{key}_p50_ms": round(r["p50_ms"], 2),
                 f"{key}_p99_ms": round(r["p99_ms"], 2),
                 f"{key}_server_cpu": round(r["server_cpu"], 3),
                 f"{key}_wrk_cpu": round(r["client_cpu"], 3)}
        if key != "bare":
            line[f"{key}_ratio"] = round(r["rps"] / bare, 3)
    line |= {"sse_clients": sse["streams"], "sse_append_eps": args.sse_rate,
             "sse_delivered_eps": round(sse["delivered_eps"]),
             "sse_p50_ms": round(sse["p50_ms"], 1), "sse_p99_ms": round(sse["p99_ms"], 1),
             "sse_server_cpu": round(sse["server_cpu"], 3), "connections": args.connections}
    print(json.dumps(line))


def _bench(args: argparse.Namespace) -> None:
    missing = [tool for tool in ("wrk", "taskset") if shutil.which(tool) is None]
    if missing:
        sys.exit(f"benchmarks.api needs {' and '.join(missing)} (apt-get install wrk)")
    data_dir = Path(tempfile.mkdtemp(prefix="pipai-bench-api-"))
    if args.py_spy:
        args.py_spy.mkdir(parents=True, exist_ok=True)
    keys_file = _keys(data_dir, args.keys)
    done = _fill(data_dir / "view", args.jobs, data_dir)
    ids = random.Random(2).sample(done, min(1000, len(done)))
    results: dict[str, dict[str, Any]] = {}
    with _server("bare", data_dir) as (base, pid):
        results["bare FastAPI"] = _load(base, ["/bare"], keys_file, args, pid, "bare")
    with _server("api", data_dir) as (base, pid):
        for name, targets in (
            ("Get Job", [f"/v1/backtest/jobs/{i}" for i in ids]),
            ("List (status=done, limit 20)", ["/v1/backtest/jobs?status=done&limit=20"]),
            ("Get Result (1y 1h)", [f"/v1/backtest/jobs/{RESULT_JOB}/result"]),
        ):
            results[name] = _load(base, targets, keys_file, args, pid, name.split(" (")[0]
                                  .lower().replace(" ", "_"))
    _report(results, _sse(data_dir, keys_file, args), args)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per target")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--jobs", type=int, default=2000, help="jobs of the benchmark owner")
    parser.add_argument("--keys", type=int, default=256)
    parser.add_argument("--sse-clients", type=int, default=100)
    parser.add_argument("--sse-rate", type=float, default=20.0, help="events appended per s")
    parser.add_argument("--py-spy", type=Path, default=None, help="profile into this folder")
    # Internal: the processes the benchmark starts.
    parser.add_argument("--serve", choices=("bare", "api", "sse"), help=argparse.SUPPRESS)
    parser.add_argument("--sse-client", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve(args.serve, args.data_dir, args.port, args.sse_rate)
    elif args.sse_client:
        print(json.dumps(asyncio.run(_sse_clients(args.sse_client, args.data_dir / "wrk-keys.txt",
                                                  args.sse_clients, args.duration))))
    else:
        _bench(args)


if __name__ == "__main__":
    main()
