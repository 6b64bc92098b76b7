"""Strategy templates: the one registry the config check, the runner, warm-up and the
catalog (GET /v1/backtest/templates) read. Each template is one module of this
package (schema, checks, fill feed, warm-up params; see `engine.templates.base`);
its kernels live in `engine.kernels`. Registering one here is all it takes for the
engine to accept, run and warm it up (docs/engine.md, "How to add a template").
"""

from __future__ import annotations

from typing import Any

from engine.contract import ConfigError
from engine.templates import breakout, grid, rsi_reversion, sma_cross
from engine.templates.base import SignalTemplate, Template

# In catalog order.
TEMPLATES: dict[str, Template] = {
    t.id: t
    for t in (
        grid.TEMPLATE,
        breakout.TEMPLATE,
        sma_cross.TEMPLATE,
        rsi_reversion.TEMPLATE,
    )
}


def template(template_id: object) -> Template:
    """The registered template with this id, else ConfigError on `template_id`."""
    if not isinstance(template_id, str) or template_id not in TEMPLATES:
        raise ConfigError("template_id", f"unknown template; one of {sorted(TEMPLATES)}")
    return TEMPLATES[template_id]


def templates_catalog() -> list[dict[str, Any]]:
    """Every template as served by GET /v1/backtest/templates:
    ``{"id", "name", "description", "params": <JSON Schema object>}``."""
    return [t.catalog_entry() for t in TEMPLATES.values()]


__all__ = ["TEMPLATES", "SignalTemplate", "Template", "template", "templates_catalog"]
