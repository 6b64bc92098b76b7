"""Market data: the Parquet store, the synthetic generator, resampling, the Binance importer."""

from engine.marketdata.bars import Bars
from engine.marketdata.store import MarketDataStore

__all__ = ["Bars", "MarketDataStore"]
