"""The engine worker's tests share the engine tests' synthetic market-data store."""

from tests.engine.conftest import market_dir, store

__all__ = ["market_dir", "store"]
