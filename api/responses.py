"""JSON answers written by orjson straight from the presenters' dicts.

A route that returns a Response skips FastAPI's response-model pass (validate the
dict into the pydantic model, then serialize the model): on Get Job that pass cost
more than reading the job. The models stay the routes' `response_model`, so OpenAPI
is unchanged; tests/api/test_documents.py holds the JSON equal to what the model
would have written.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import Response


class OrjsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
