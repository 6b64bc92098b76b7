"""Plain functions behind `pipai data generate|import|list` (the CLI only prints them).

Each takes the market-data directory (``<PIPAI_DATA_DIR>/market``) and returns
JSON-ready data; errors are exceptions (KlineImportError, KeyError for an
unknown synthetic symbol) for the CLI to render.
"""

from __future__ import annotations

import time
from pathlib import Path

from engine.marketdata.binance_import import KlineImportError, import_klines
from engine.marketdata.funding import import_binance_funding, is_binance_funding_csv
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
            store.write_base(symbol, "1m", generate_1m(symbol), f"synthetic:v{GENERATOR_VERSION}")
        store.ensure(symbol, timeframes)
        info = store.info(symbol)
        info["seconds"] = round(time.perf_counter() - started, 3)
        out.append(info)
    return out


def import_files(
    data_dir: Path | str, symbol: str, paths: list[Path | str], *, replace: bool = False,
    interval: str | None = None,
) -> dict[str, object]:
    """Import Binance kline CSV/zip files as `symbol` (their interval inferred, or
    `interval`), or Binance funding-rate CSVs (header ``calc_time,...``) as its funding
    series; returns the import report."""
    files = [Path(p) for p in paths]
    funding = [p.suffix.lower() == ".csv" and is_binance_funding_csv(p) for p in files]
    if any(funding):
        if not all(funding):
            raise KlineImportError("funding-rate files and kline files: import them apart")
        root = Path(data_dir)
        try:
            stored = [import_binance_funding(root, symbol, p) for p in files][-1]
        except ValueError as exc:
            raise KlineImportError(str(exc)) from None
        return {"symbol": symbol, "files": [str(p) for p in files], "kind": "funding",
                "funding_points": stored}
    store = MarketDataStore(data_dir)
    report = import_klines(store, symbol, files, replace=replace, interval=interval)
    return {"kind": "klines", **report.to_dict()}


def list_data(data_dir: Path | str) -> list[dict[str, object]]:
    """Every symbol the engine can serve, with what is stored for it."""
    store = MarketDataStore(data_dir)
    return [store.info(s) for s in store.symbols()]
