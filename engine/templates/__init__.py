"""Strategy templates: the catalog (schemas) lives here, the kernels in engine.kernels."""

from engine.templates.catalog import TEMPLATES, Template, templates_catalog

__all__ = ["TEMPLATES", "Template", "templates_catalog"]
