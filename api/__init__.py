"""The public HTTP API (FastAPI): routers per resource, auth and weights as dependencies."""
