"""Deterministic synthetic 1m bars: the embedded default market data.

Each symbol's log price is a realistic *anchor* path (log-linear between
hand-picked monthly-ish levels close to 2024-2025 history) plus a
mean-reverting deviation driven by GARCH(1,1) returns with Student-t(5)
innovations, an intraday volatility cycle (peak ~14:30 UTC, the US open) and a
slow log-volatility regime. The deviation reverts with a ~6-day half-life, so
prices stay near realistic levels while 1m returns keep fat tails and
volatility clustering. Volume follows an intraday cycle, is lower at weekends
and rises with volatility.

Same symbol + same GENERATOR_VERSION + same numpy version -> identical bars
(numpy's PCG64 stream and its distributions are stable within a version).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
from numba import njit

from engine.marketdata.bars import Bars
from engine.timeframes import DAY_MS, MINUTE_MS

GENERATOR_VERSION = 1
SYNTHETIC_START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
SYNTHETIC_END_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z (exclusive)

_STUDENT_NU = 5.0
_Z_CLIP = 12.0  # keeps a single draw from sending GARCH variance to absurd levels
_GARCH_ALPHA = 0.03
_GARCH_BETA = 0.968
_REVERSION_HALF_LIFE_MIN = 6 * 1440
_REGIME_HALF_LIFE_MIN = 5 * 1440
_REGIME_SD = 0.35  # stationary sd of log volatility multiplier


@dataclass(frozen=True, slots=True)
class SyntheticSpec:
    symbol: str
    price_decimals: int  # tick = 10**-price_decimals
    annual_vol: float
    base_volume: float  # base-asset volume of an average minute
    anchors: tuple[tuple[str, float], ...]  # (YYYY-MM-DD, price)


SPECS: dict[str, SyntheticSpec] = {
    s.symbol: s
    for s in (
        SyntheticSpec(
            "BTCUSDT",
            2,
            0.55,
            15.0,
            (
                ("2024-01-01", 42300),
                ("2024-01-23", 39500),
                ("2024-03-14", 71000),
                ("2024-05-01", 58000),
                ("2024-06-05", 71000),
                ("2024-08-05", 54000),
                ("2024-09-06", 54000),
                ("2024-11-12", 88000),
                ("2024-12-17", 104000),
                ("2025-01-20", 103000),
                ("2025-04-08", 77000),
                ("2025-05-22", 109000),
                ("2025-08-14", 118000),
                ("2025-10-06", 121000),
                ("2025-11-21", 84000),
                ("2026-01-01", 88000),
            ),
        ),
        SyntheticSpec(
            "ETHUSDT",
            2,
            0.70,
            200.0,
            (
                ("2024-01-01", 2280),
                ("2024-03-12", 4000),
                ("2024-05-01", 2950),
                ("2024-08-05", 2300),
                ("2024-09-06", 2250),
                ("2024-12-16", 4000),
                ("2025-02-03", 2700),
                ("2025-04-09", 1500),
                ("2025-06-10", 2800),
                ("2025-08-24", 4700),
                ("2025-11-21", 2700),
                ("2026-01-01", 2970),
            ),
        ),
        SyntheticSpec(
            "SOLUSDT",
            2,
            0.90,
            2500.0,
            (
                ("2024-01-01", 101),
                ("2024-03-18", 200),
                ("2024-05-01", 130),
                ("2024-08-05", 125),
                ("2024-11-22", 255),
                ("2025-01-19", 265),
                ("2025-04-07", 100),
                ("2025-09-18", 245),
                ("2025-11-21", 130),
                ("2026-01-01", 125),
            ),
        ),
        SyntheticSpec(
            "BNBUSDT",
            2,
            0.55,
            300.0,
            (
                ("2024-01-01", 312),
                ("2024-03-15", 620),
                ("2024-06-06", 700),
                ("2024-08-05", 450),
                ("2024-12-04", 780),
                ("2025-04-07", 550),
                ("2025-10-13", 1250),
                ("2025-11-21", 850),
                ("2026-01-01", 860),
            ),
        ),
        SyntheticSpec(
            "XRPUSDT",
            4,
            0.85,
            400_000.0,
            (
                ("2024-01-01", 0.62),
                ("2024-03-11", 0.70),
                ("2024-07-05", 0.42),
                ("2024-11-05", 0.50),
                ("2024-12-03", 2.60),
                ("2025-01-16", 3.30),
                ("2025-04-07", 1.70),
                ("2025-07-18", 3.55),
                ("2025-11-21", 1.95),
                ("2026-01-01", 1.85),
            ),
        ),
    )
}


@njit(cache=True)
def synthetic_path_kernel(
    z: np.ndarray,
    zr: np.ndarray,
    season: np.ndarray,
    omega: float,
    alpha: float,
    beta: float,
    kappa: float,
    regime_phi: float,
    regime_sd: float,
) -> tuple[np.ndarray, np.ndarray]:
    """GARCH(1,1) returns scaled by intraday season and a slow AR(1) log-vol
    regime, accumulated into an AR(1) (mean-reverting) log-price deviation.
    Returns (deviation x, per-minute return sd)."""
    n = z.shape[0]
    x = np.empty(n)
    sd = np.empty(n)
    h = omega / (1.0 - alpha - beta)  # start at the long-run variance
    y = 0.0
    prev = 0.0
    shock_sd = regime_sd * math.sqrt(1.0 - regime_phi * regime_phi)
    for t in range(n):
        y = regime_phi * y + shock_sd * zr[t]
        s = math.sqrt(h) * season[t] * math.exp(y - 0.5 * regime_sd * regime_sd)
        e = s * z[t]
        sd[t] = s
        prev = (1.0 - kappa) * prev + e
        x[t] = prev
        u = math.sqrt(h) * z[t]
        h = omega + alpha * u * u + beta * h
    return x, sd


def _seed(symbol: str) -> int:
    return zlib.crc32(symbol.encode()) ^ (GENERATOR_VERSION << 32)


def _date_ms(day: str) -> int:
    return int(np.datetime64(day, "ms").astype(np.int64))


def _round_tick(a: np.ndarray, decimals: int) -> np.ndarray:
    # np.round to decimals gives the double nearest the decimal price (no 0.1+0.2 noise).
    return np.round(a, decimals)


def generate_1m(symbol: str) -> Bars:
    """All 1m bars of `symbol` from 2024-01-01 to 2025-12-31 (1,052,640 bars)."""
    spec = SPECS[symbol]
    t = np.arange(SYNTHETIC_START_MS, SYNTHETIC_END_MS, MINUTE_MS, dtype=np.int64)
    n = t.shape[0]
    rng = np.random.default_rng(np.random.SeedSequence(_seed(symbol)))
    z = rng.standard_t(_STUDENT_NU, n) * math.sqrt((_STUDENT_NU - 2.0) / _STUDENT_NU)
    np.clip(z, -_Z_CLIP, _Z_CLIP, out=z)
    zr = rng.standard_normal(n)
    wick = np.abs(rng.standard_normal((2, n)))
    noise = rng.standard_normal(n)

    minute_of_day = (t // MINUTE_MS) % 1440
    phase = 2.0 * math.pi * (minute_of_day / 1440.0 - 14.5 / 24.0)
    season = 1.0 + 0.35 * np.cos(phase)
    season /= math.sqrt(float(np.mean(season * season)))

    var_minute = spec.annual_vol**2 / 525_600.0
    omega = var_minute * (1.0 - _GARCH_ALPHA - _GARCH_BETA)
    kappa = math.log(2.0) / _REVERSION_HALF_LIFE_MIN
    phi = 0.5 ** (1.0 / _REGIME_HALF_LIFE_MIN)
    x, sd = synthetic_path_kernel(
        z, zr, season, omega, _GARCH_ALPHA, _GARCH_BETA, kappa, phi, _REGIME_SD
    )

    anchor_t = np.array([_date_ms(d) for d, _ in spec.anchors], dtype=np.float64)
    anchor_p = np.log(np.array([p for _, p in spec.anchors], dtype=np.float64))
    log_anchor = np.interp(t.astype(np.float64), anchor_t, anchor_p)

    tick = spec.price_decimals
    close = _round_tick(np.exp(log_anchor + x), tick)
    open_ = np.empty(n)
    open_[0] = _round_tick(np.exp(log_anchor[:1]), tick)[0]
    open_[1:] = close[:-1]
    body_hi = np.maximum(open_, close)
    body_lo = np.minimum(open_, close)
    high = np.maximum(_round_tick(body_hi * np.exp(0.6 * sd * wick[0]), tick), body_hi)
    low = np.minimum(_round_tick(body_lo * np.exp(-0.6 * sd * wick[1]), tick), body_lo)
    low = np.maximum(low, 10.0**-tick)

    weekday = (t // DAY_MS + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    weekend = np.where(weekday >= 5, 0.65, 1.0)
    vol_season = 1.0 + 0.5 * np.cos(phase)
    activity = 0.35 + 0.65 * sd / math.sqrt(var_minute)
    volume = spec.base_volume * vol_season * weekend * activity * np.exp(0.3 * noise - 0.045)
    volume = np.round(volume, 5)
    return Bars.from_arrays(t, open_, high, low, close, volume)
