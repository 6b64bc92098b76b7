"""Shared fixtures: one synthetic market-data store for the whole session."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.marketdata.store import MarketDataStore


@pytest.fixture(scope="session")
def market_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("market")


@pytest.fixture(scope="session")
def store(market_dir: Path) -> MarketDataStore:
    return MarketDataStore(market_dir)
