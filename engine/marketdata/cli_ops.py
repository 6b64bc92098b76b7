"""Plain functions behind `pipai data generate|import|list` (the CLI only prints them).

Each takes the market-data directory (``<PIPAI_DATA_DIR>/market``) and returns
JSON-ready data; errors are exceptions (KlineImportError, KeyError for an
unknown synthetic symbol) for the CLI to render.
"""

from __future__ import annotations

import time
from pathlib import Path

from engine.marketdata.binance_import import import_klines
from engine.marketdata.store import MarketDataStore
from engine.marketdata.synthetic import GENERATOR_VERSION, SPECS, generate_1m
from engine.timeframes import TIMEFRAMES


def generate(
    data_dir: Path | str,
    symbols: list[str] | None = None,
    *,
    force: bool = False,
    timeframes: tuple[str, ...] = TIMEFRAMES,
) -> list[dict[str, object]]:
    """Generate the synthetic 1m data (and resampled timeframes) of `symbols`
    (default: all synthetic symbols). Existing files are kept unless `force`."""
    store = MarketDataStore(data_dir)
    out = []
    for symbol in symbols or sorted(SPECS):
        if symbol not in SPECS:
            raise KeyError(f"{symbol} is not a synthetic symbol; one of {sorted(SPECS)}")
        started = time.perf_counter()
        if force or not store.path(symbol, "1m").is_file():
            store.write_1m(symbol, generate_1m(symbol), f"synthetic:v{GENERATOR_VERSION}")
        store.ensure(symbol, timeframes)
        info = store.info(symbol)
        info["seconds"] = round(time.perf_counter() - started, 3)
        out.append(info)
    return out


def import_files(
    data_dir: Path | str, symbol: str, paths: list[Path | str], *, replace: bool = False
) -> dict[str, object]:
    """Import Binance 1m kline CSV/zip files as `symbol`; returns the import report."""
    store = MarketDataStore(data_dir)
    report = import_klines(store, symbol, [Path(p) for p in paths], replace=replace)
    return report.to_dict()


def list_data(data_dir: Path | str) -> list[dict[str, object]]:
    """Every symbol the engine can serve, with what is stored for it."""
    store = MarketDataStore(data_dir)
    return [store.info(s) for s in store.symbols()]
