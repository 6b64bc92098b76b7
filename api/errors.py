"""One error type for the whole API, rendered as {"error": {"code", "message"}}."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api.weights import WEIGHTS
from pipai.log import get_logger

log = get_logger("api")

STATUS_OF = {
    "INVALID_PARAMETER": 400,
    "UNAUTHORIZED": 401,
    "INVALID_SIGNATURE": 401,
    "TIMESTAMP_OUT_OF_WINDOW": 401,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "INVALID_STATE": 409,
    "IDEMPOTENCY_CONFLICT": 409,
    "PAYLOAD_TOO_LARGE": 413,
    "RATE_LIMITED": 429,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
}


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


class ApiError(Exception):
    def __init__(self, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = STATUS_OF[code]
        self.headers = headers or {}


def error_response(code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}},
                        status_code=STATUS_OF[code], headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route accepts on this path (RFC 9110): Starlette names only the
    first route's, and included routers are not flat, so ask each route to match."""
    routes = request.app.router.routes
    return [method for method in _METHODS
            if any(route.matches({**request.scope, "method": method})[0] == Match.FULL
                   for route in routes)]


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI validates declared parameters before the route runs, so the route's
        # signature check (api/deps.py) has not happened: do it here, so a malformed
        # request is still authenticated first and spends its weight (docs/api.md).
        weight = WEIGHTS.get(getattr(request.scope.get("route"), "name", ""))
        if weight is not None:
            try:
                await request.app.state.verifier.verify(request, weight)
            except ApiError as refused:
                return error_response(refused.code, refused.message, refused.headers)
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
        return error_response("INVALID_PARAMETER", f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return error_response("NOT_FOUND", "no such resource")
        if exc.status_code == 405:
            return error_response("METHOD_NOT_ALLOWED", "method not allowed",
                                  {"Allow": ", ".join(_allowed_methods(request))})
        return error_response("INVALID_PARAMETER", str(exc.detail))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal_error", error_type=type(exc).__name__, path=request.url.path)
        # Rendered outside the middleware stack: add the weight header here.
        used = request.scope.get("state", {}).get("used_weight")
        headers = {"X-PipAI-Used-Weight-1m": str(used)} if used is not None else None
        return error_response("INTERNAL", "internal error", headers)
