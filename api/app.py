"""The FastAPI application: wiring of the view replica, the command bus and the routers."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.auth import Verifier
from api.body_limit import BodyLimit
from api.commands import CommandBus
from api.documents import JobDocuments
from api.errors import install_handlers
from api.openapi import install_openapi
from api.routers import health, jobs, result_pages, sweeps, templates
from api.weights import UsedWeightHeader, weight_limiter
from engine.marketdata.store import MarketDataStore
from pipai.keys import KeyStore
from pipai.settings import Settings
from pipai.signing import ReplayGuard
from projections.cursors import load_or_create_key
from projections.jobs_view import JobsView
from projections.runner import ProjectionRunner

# How long start-up waits for the view to catch up before serving (503s meanwhile).
CATCH_UP_WAIT_S = 5.0
# A revoked key is refused within this long (docs/api.md, "Signed requests").
KEYS_RECHECK_S = 0.25


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.verifier.started(int(time.time() * 1000))
        view = JobsView(settings.data_dir / "api" / settings.instance / "jobs-view",
                        cursor_key=load_or_create_key(settings.data_dir / "cursor-key"))
        runner = ProjectionRunner(settings, view)
        commands = CommandBus(settings, runner.codec)
        runner.listeners.append(commands.on_applied)
        app.state.view, app.state.projection, app.state.commands = view, runner, commands
        runner.start()
        try:
            # Usually the view is current within moments; a long catch-up is served as 503s.
            await asyncio.to_thread(runner.wait_caught_up, CATCH_UP_WAIT_S)
            # Everything built so far lives as long as the process: out of the collector's
            # generations, so its passes over a request's garbage stop re-walking the app
            # (about 15% of a Get Job).
            gc.freeze()
            yield
        finally:
            runner.stop()
            commands.close()
            view.close()

    app = FastAPI(
        title="PipAI Backtest API",
        version="1.0.0",
        description="Submit, watch, cancel and audit crypto strategy backtests.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.documents = JobDocuments()
    # The market data the workers read (same directory): a submit on a timeframe finer
    # than a symbol's data is refused (docs/api.md, Create Job). Metadata reads only.
    app.state.market = MarketDataStore(settings.market_dir)
    # Verification needs no broker: built here, so tests can exercise it without the lifespan.
    app.state.keys = KeyStore(settings.data_dir / "keys.json", recheck_s=KEYS_RECHECK_S)
    app.state.verifier = Verifier(
        keys=app.state.keys,
        limiter=weight_limiter(settings.api_weight_per_minute, settings.api_rate_limit_storage),
        replays=ReplayGuard(),
        window_ms=settings.api_recv_window_ms,
    )
    app.add_middleware(UsedWeightHeader)
    # Added last, so outermost: an oversized body is refused before anything reads it.
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_body_bytes)
    install_handlers(app)
    install_openapi(app)
    app.include_router(jobs.router)
    app.include_router(result_pages.router)
    app.include_router(sweeps.router)
    app.include_router(templates.router)
    app.include_router(health.router)
    return app


def main() -> None:
    import uvicorn

    from pipai.topics import ensure_topics

    settings = Settings.from_env()
    ensure_topics(settings)
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port,
                log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
