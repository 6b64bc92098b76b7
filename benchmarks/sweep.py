"""A 10,000-child sweep through Kafka against vectorbt's in-process sweep of the same grid.

    .venv/bin/python -m benchmarks.sweep [--fast 100] [--slow 100] [--skip-vectorbt]

The grid: tpl_sma_cross, fast windows 1..F x slow windows 101..100+S (10,000 by
default), one year (2024) of 1h BTCUSDT from the local synthetic store, 5 bps, stop and
reverse. First the reference, in this process before anything else runs: vectorbt
(the `bench` extra) computes both moving averages of every column, the crossings and
`Portfolio.from_signals` (direction both, fees 0.0005) and the Sharpe ratio of every
column; it is timed warm (a 2 x 2 sweep compiles its kernels first). Then a stack of its
own (benchmarks/latency.py's: a local broker, one orchestrator, one engine worker, one
API) gets the same grid as one Create Sweep, timed from the request until the sweep has
`finished_at` and its leaderboard answers. The log is read back for the events written
per second and each child's accepted -> done time (broker append times); the peak
resident memory of each process comes from /proc (VmHWM). The last line is one JSON
object of the figures.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

BASE: dict[str, Any] = {
    "template_id": "tpl_sma_cross", "params": {"fast": 1, "slow": 101},
    "symbols": ["BTCUSDT"], "timeframe": "1h",
    "start": "2024-01-01T00:00:00Z", "end": "2025-01-01T00:00:00Z",
    "capital": "10000.00", "leverage": 1, "fee_model": "fixed_bps", "fee_bps": "5"}
TERMINAL = frozenset({"JobSucceeded", "JobFailed", "JobCancelled"})


def _closes(market_dir: Path) -> Any:
    """The closes the children read: BTCUSDT 1h of 2024 from the same store."""
    import pandas as pd

    from engine import MarketDataStore, parse_config

    config = parse_config(BASE)
    bars = MarketDataStore(market_dir).bars("BTCUSDT", "1h", config.start_ms, config.end_ms)
    return pd.Series(bars.close, index=pd.to_datetime(bars.open_time_ms, unit="ms"))


def reference_vectorbt(close: Any, fasts: list[int], slows: list[int]) -> float | None:
    """Seconds of vectorbt's warm in-process sweep of the product fasts x slows."""
    try:
        import vectorbt as vbt
    except ImportError:
        print("vectorbt: not installed (pip install -e '.[bench]'), reference skipped")
        return None

    def sweep(f: list[int], s: list[int]) -> Any:
        fast = vbt.MA.run(close, [a for a in f for _ in s], short_name="fast")
        slow = vbt.MA.run(close, [b for _ in f for b in s], short_name="slow")
        pf = vbt.Portfolio.from_signals(close, fast.ma_crossed_above(slow),
                                        fast.ma_crossed_below(slow), direction="both",
                                        fees=0.0005, init_cash=10_000.0, freq="1h")
        return pf.sharpe_ratio()

    sweep(fasts[:2], slows[:2])  # compiles vectorbt's numba kernels
    started = time.perf_counter()
    sharpe = sweep(fasts, slows)
    seconds = time.perf_counter() - started
    print(f"vectorbt: {len(sharpe):,} columns in {seconds:.1f} s "
          f"({len(sharpe) / seconds:,.0f} configs/s)")
    del sharpe
    gc.collect()
    return seconds


def _peak_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def run_sweep(client: httpx.Client, request: dict[str, Any]) -> tuple[str, float]:
    """(sweep id, seconds from Create Sweep until finished and the leaderboard reads)."""
    started = time.perf_counter()
    created = client.post("/v1/backtest/sweeps", json=request)
    if created.status_code != 201:
        raise RuntimeError(f"Create Sweep answered {created.status_code}: {created.text}")
    sweep_id = created.json()["id"]
    total = created.json()["counts"]["total"]
    last = -1
    while True:
        sweep = client.get(f"/v1/backtest/sweeps/{sweep_id}").json()
        done = total - sweep["counts"]["queued"] - sweep["counts"]["running"]
        if done // 1000 != last // 1000:
            print(f"  {done:,}/{total:,} children terminal after "
                  f"{time.perf_counter() - started:.1f} s", flush=True)
            last = done
        if sweep["finished_at"] is not None:
            break
        time.sleep(0.2)  # poll interval of the client
    board = client.get(f"/v1/backtest/sweeps/{sweep_id}/leaderboard", params={"limit": 10})
    board.raise_for_status()
    return sweep_id, time.perf_counter() - started


def read_log(settings: Any, sweep_id: str) -> tuple[int, list[float], tuple[int, int]]:
    """(events of the sweep and its children, each child's accepted -> done ms, the
    first and last append time of those events)."""
    from jobs import messages
    from jobs.sweep_state import sweep_of
    from pipai.kafka.codec import MessageCodec
    from pipai.kafka.reader import read_topic
    from pipai.topics import Topics
    from schemas.codec import default_codec

    codec = MessageCodec(default_codec(), messages)
    accepted: dict[str, int] = {}
    ended: dict[str, int] = {}
    count, first, last = 0, 2**63, 0
    for msg in read_topic(settings, Topics.for_prefix(settings.topic_prefix).events):
        event = codec.decode_message(msg)
        child = sweep_of(event.job_id)
        if event.job_id != sweep_id and (child is None or child[0] != sweep_id):
            continue
        appended = msg.timestamp()[1]
        count, first, last = count + 1, min(first, appended), max(last, appended)
        name = type(event).__name__
        if name == "JobAccepted":
            accepted[event.job_id] = appended
        elif name in TERMINAL:
            ended[event.job_id] = appended
    times = [ended[j] - accepted[j] for j in ended if j in accepted]
    return count, times, (first, last)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fast", type=int, default=100, help="fast windows 1..N")
    parser.add_argument("--slow", type=int, default=100, help="slow windows 101..100+N")
    parser.add_argument("--skip-vectorbt", action="store_true")
    args = parser.parse_args()
    fasts, slows = list(range(1, args.fast + 1)), list(range(101, 101 + args.slow))

    import logging

    from benchmarks.latency import start_stack
    from pipai.client import PipaiAuth

    logging.getLogger("httpx").setLevel(logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="pipai-bench-sweep-"))
    from engine import MarketDataStore

    MarketDataStore(tmp / "market").generate_if_missing("BTCUSDT")
    reference = None if args.skip_vectorbt else reference_vectorbt(
        _closes(tmp / "market"), fasts, slows)
    reference_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    broker, stack, key = start_stack(tmp)
    settings = stack.settings
    request = {"base": BASE, "grid": {"params.fast": fasts, "params.slow": slows},
               "objective": {"metric": "sharpe", "goal": "maximize"}}
    try:
        base = f"http://{settings.api_host}:{settings.api_port}"
        with httpx.Client(base_url=base, auth=PipaiAuth(key.api_key, key.secret),
                          timeout=httpx.Timeout(120.0)) as client:
            sweep_id, seconds = run_sweep(client, request)
        peaks = {name: _peak_mb(proc.pid) for name, proc in stack.children.items()}
        if broker is not None and broker.process is not None:
            peaks["broker"] = _peak_mb(broker.process.pid)
        events, times, (first, last) = read_log(settings, sweep_id)
    finally:
        stack.stop()
        if broker is not None:
            broker.stop()
    _report(len(fasts) * len(slows), seconds, reference, events, times, first, last, peaks,
            reference_peak)


def _report(children: int, seconds: float, reference: float | None, events: int,
            times: list[float], first: int, last: int, peaks: dict[str, float | None],
            reference_peak: float) -> None:
    span_s = max(1e-3, (last - first) / 1000)
    median = statistics.median(times) if times else None
    ratio = None if reference is None else round(seconds / reference, 3)
    print(f"sweep through Kafka: {children:,} children in {seconds:.1f} s "
          f"({children / seconds:,.0f} children/s), {events:,} events "
          f"({events / span_s:,.0f}/s while they were written)")
    if reference is not None:
        print(f"vectorbt in-process: {reference:.1f} s; ratio (ours / vectorbt) {ratio} "
              f"(goal <= 1)")
    print(f"child accepted -> done: median {median} ms; peak RSS MB {peaks}, "
          f"benchmark process (vectorbt) {reference_peak:.0f}; {os.cpu_count()} CPUs")
    print(json.dumps({"benchmark": "sweep", "children": children,
                      "seconds": round(seconds, 2), "vectorbt_seconds":
                      None if reference is None else round(reference, 2), "ratio": ratio,
                      "children_per_s": round(children / seconds, 1),
                      "events": events, "events_per_s": round(events / span_s, 1),
                      "child_median_ms": median, "peak_rss_mb": peaks,
                      "vectorbt_peak_rss_mb": round(reference_peak, 1)}))


if __name__ == "__main__":
    main()
