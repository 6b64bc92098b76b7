"""The template registry: every registered template is complete (catalog, config,
runner, warm-up), the catalog is byte-identical to the one the API has always
served, and a new template needs nothing but its module and its registry entry."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numba.core.registry import CPUDispatcher

import engine.warmup
from engine import (
    BacktestConfig,
    BacktestResult,
    MarketDataStore,
    parse_config,
    run_backtest,
    templates_catalog,
    warm_up,
)
from engine.kernels import account
from engine.marketdata.bars import Bars
from engine.templates import TEMPLATES, Template
from engine.templates.base import SignalTemplate, object_schema
from tests.engine.helpers import api_config

CATALOG = Path(__file__).parent / "data" / "templates_catalog.json"
DAY = {"start": "2025-03-01T00:00:00Z", "end": "2025-03-02T00:00:00Z", "timeframe": "1m"}


def api_params(tpl: Template) -> dict[str, Any]:
    """The template's warm-up params as a client would send them (prices as strings)."""
    props = tpl.params["properties"]
    return {
        k: str(v) if props[k]["type"] == "string" else v for k, v in tpl.warm_up_params.items()
    }


def dispatchers(tpl: Template) -> list[CPUDispatcher]:
    """The numba kernels a run of `tpl` can call: those its module and the fill feeds
    import, and the account kernel."""
    modules = (sys.modules[type(tpl).__module__], sys.modules["engine.feeds"], account)
    found = {id(v): v for m in modules for v in vars(m).values() if isinstance(v, CPUDispatcher)}
    return list(found.values())


def run_template(tid: str, params: dict[str, Any], store: MarketDataStore) -> BacktestResult:
    config = parse_config(api_config(template_id=tid, params=params, **DAY))
    return run_backtest(config, store, lambda f: None)


def test_catalog_is_byte_identical_to_the_served_one() -> None:
    # tests/engine/data/templates_catalog.json is GET /v1/backtest/templates' body as
    # served before templates became one module each. A new template is appended
    # after these; the ones clients know never change.
    known = len(json.loads(CATALOG.read_text())["data"])
    assert known == 4
    assert json.dumps({"data": templates_catalog()[:known]}) == CATALOG.read_text()


@pytest.mark.parametrize("tid", list(TEMPLATES))
def test_every_registered_template_is_complete(
    tid: str, store: MarketDataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    tpl = TEMPLATES[tid]
    assert tpl.id == tid
    assert tpl.catalog_entry() in templates_catalog()
    warmed: list[str] = []

    def recording_simulate(config: BacktestConfig, *args: Any) -> BacktestResult:
        warmed.append(config.template_id)
        return simulate(config, *args)

    simulate = engine.warmup.simulate
    monkeypatch.setattr(engine.warmup, "simulate", recording_simulate)
    warm_up()
    assert tid in warmed
    kernels = dispatchers(tpl)
    assert kernels, "a template runs at least the account kernel"
    compiled = [len(k.signatures) for k in kernels]
    r = run_template(tid, api_params(tpl), store)
    assert r.equity[-1] == pytest.approx(10_000 + sum(t.pnl for t in r.trades), rel=1e-9)
    assert [len(k.signatures) for k in kernels] == compiled  # warm_up compiled them all


class AlwaysLong(SignalTemplate):
    """A fifth template, as a new module would declare it (no numba: plain numpy)."""

    id = "tpl_always_long"
    name = "Always long"
    description = "Long from the second bar on."
    params = object_schema(
        {"delay": {"type": "integer", "minimum": 0, "maximum": 10, "default": 1}}, []
    )
    warm_up_params = {"delay": 1}

    def target(self, bars: Bars, params: Any) -> np.ndarray:
        target = np.ones(len(bars))
        target[: params["delay"]] = 0.0
        return target


@pytest.fixture
def fifth_template(monkeypatch: pytest.MonkeyPatch) -> Iterator[Template]:
    tpl = AlwaysLong()
    monkeypatch.setitem(TEMPLATES, tpl.id, tpl)  # the one registry line
    yield tpl


def test_a_new_template_needs_only_its_module_and_registry_entry(
    fifth_template: Template, store: MarketDataStore
) -> None:
    assert templates_catalog()[-1] == fifth_template.catalog_entry()
    config = parse_config(api_config(template_id="tpl_always_long", params={}, **DAY))
    assert config.params == {"delay": 1}
    r = run_backtest(config, store, lambda f: None)
    assert len(r.trades) == 1 and r.trades[0].side == "long"
    warm_up()  # runs the new template too, without an edit to engine/warmup.py
