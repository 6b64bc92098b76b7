"""engine/equity_pages.py: a curve page in binary, read back bit for bit."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from engine.equity_pages import EquityPageError, decode_page, encode_page
from engine.results import equity_json


@given(hnp.arrays(np.float64, st.integers(0, 300),
                  elements=st.floats(allow_nan=False, allow_infinity=False)),
       st.integers(0, 2**40), st.integers(1, 10**7))
def test_a_page_reads_back_bit_for_bit(equity: np.ndarray, start: int, step: int) -> None:
    times = start + step * np.arange(equity.shape[0], dtype=np.int64)
    got_times, got_equity = decode_page(encode_page(times, equity))
    assert got_times.dtype == np.int64 and got_equity.dtype == np.float64
    assert np.array_equal(got_times, times)
    assert got_equity.tobytes() == equity.tobytes()  # -0.0 and every last bit kept


def test_a_year_of_hourly_points_compresses_to_a_fraction_of_its_json() -> None:
    n = 8_761
    times = 1_704_067_200_000 + 3_600_000 * np.arange(n, dtype=np.int64)
    equity = 10_000 * np.cumprod(1 + np.random.default_rng(1).normal(0, 0.003, n))
    page = encode_page(times, equity)
    assert len(page) == 1 + 16 * n
    assert len(zlib.compress(page, 1)) * 6 < len(equity_json(times, equity))


@pytest.mark.parametrize("data", [b"", b"\x02abc", b"\x01short",
                                  b"\x01" + b"17 bytes, not 16n"])
def test_bytes_that_are_no_page_are_refused(data: bytes) -> None:
    with pytest.raises(EquityPageError):
        decode_page(data)


def test_times_and_equity_must_match() -> None:
    with pytest.raises(ValueError):
        encode_page(np.zeros(3, dtype=np.int64), np.zeros(2))
