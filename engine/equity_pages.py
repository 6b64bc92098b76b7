"""An equity curve page in binary, for the results topic (docs/architecture.md,
"Results").

A one-year 1h child's curve is ~450 KB as JSON and was most of a sweep child's cost:
formatting it in the worker, then the broker's, the replica's and RocksDB's bytes
(benchmarks/sweep.py). As float64 it is 140 KB, laid out so that the producer's
zstd (pipai/kafka/clients.py) takes it to ~55 KB: the times of a gapless series as
deltas are one value repeated, and the equities' bytes transposed put the high bytes of
nearby values side by side. (Compressing here as well was a fifth of a sweep child's
worker time, for nothing.) The API formats a page only when someone reads it, into
exactly the JSON it would have had (`engine.results.equity_json`), so the bytes a
client gets do not depend on the form a result travelled in.

Format 1: one byte 0x01, then the n times as little-endian int64 deltas (the first
from 0), then the n equities' little-endian float64 bytes transposed (all first
bytes, then all second bytes, ...).
"""

from __future__ import annotations

import numpy as np

FORMAT = 1
_HEADER = bytes([FORMAT])


class EquityPageError(ValueError):
    """Bytes that are not an equity page of a known format."""


def encode_page(times_ms: np.ndarray, equity: np.ndarray) -> bytes:
    times = np.ascontiguousarray(times_ms, dtype="<i8")
    values = np.ascontiguousarray(equity, dtype="<f8")
    if times.shape != values.shape or times.ndim != 1:
        raise ValueError("times and equity must be 1-d arrays of one length")
    deltas = np.diff(times, prepend=np.int64(0)).astype("<i8")
    shuffled = values.view(np.uint8).reshape(-1, 8).T.tobytes()
    return b"".join((_HEADER, deltas.tobytes(), shuffled))


def decode_page(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(times in ms as int64, equity as float64) of a page."""
    if not data or data[0] != FORMAT:
        raise EquityPageError(f"not an equity page of format {FORMAT}")
    raw = memoryview(data)[1:]
    if len(raw) % 16:
        raise EquityPageError("corrupt equity page: not n times and n values")
    n = len(raw) // 16
    times = np.cumsum(np.frombuffer(raw, dtype="<i8", count=n)).astype(np.int64)
    shuffled = np.frombuffer(raw, dtype=np.uint8, offset=8 * n).reshape(8, n)
    equity = np.ascontiguousarray(shuffled.T).view("<f8").reshape(n).astype(np.float64)
    return times, equity
