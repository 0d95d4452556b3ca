"""The control-centre API: builds the app and mounts one router per resource."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from importlib import resources

import asyncpg
import uvicorn
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from api.auth import FailedLoginLimiter
from api.docs_pages import mount_docs
from api.errors import install_error_handlers
from api.live import AlertFeed
from api.metrics import ApiMetrics
from api.middleware import SecurityAndMetricsMiddleware
from api.routers import (
    alerts,
    audit,
    care_plans,
    devices,
    events,
    health,
    kpis,
    organisations,
    priorities,
    reports,
    resident_history,
    residents,
    stream,
    users,
)
from api.state import ApiState
from models.config import EvidenceConfig
from telecare.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ApiOptions:
    """API knobs that are not process settings."""

    # Cross-origin callers allowed (none: the console is served from the same origin).
    cors_origins: tuple[str, ...] = ()
    pool_min_size: int = 2
    pool_max_size: int = 10
    max_failed_sign_ins: int = 10
    failed_sign_in_window_s: float = 60.0
    # Night, baseline and cost rules for the evidence reports.
    evidence: EvidenceConfig = field(default_factory=EvidenceConfig)


def create_app(*, settings: Settings, options: ApiOptions | None = None) -> FastAPI:
    """Build the FastAPI application; the pool and live feed start in its lifespan."""
    opts = options or ApiOptions()
    state = ApiState(settings=settings, metrics=ApiMetrics(),
                     login_limiter=FailedLoginLimiter(max_failures=opts.max_failed_sign_ins,
                                                      window_s=opts.failed_sign_in_window_s),
                     evidence=opts.evidence)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state.pool = await asyncpg.create_pool(settings.database_url, min_size=opts.pool_min_size,
                                               max_size=opts.pool_max_size, command_timeout=30)
        state.feed = AlertFeed(pool=state.pool, database_url=settings.database_url, metrics=state.metrics)
        stop = asyncio.Event()
        feed_task = asyncio.create_task(state.feed.run(stop=stop), name="api-alert-feed")
        try:
            await asyncio.wait_for(state.feed.listening.wait(), timeout=10)
            yield
        finally:
            stop.set()
            state.feed.nudge()
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(feed_task, timeout=10)
            await state.pool.close()

    # docs_url and redoc_url off: FastAPI's pages load from a CDN; api/docs_pages.py serves local ones.
    app = FastAPI(title="Telecare control-centre API", version="1.0.0", lifespan=lifespan, docs_url=None,
                  redoc_url=None,
                  description="The operators' queue and the service's programmatic face. See docs/api.md.")
    app.state.api = state
    install_error_handlers(app=app)
    # The live stream comes before the alerts router so `/stream` is not read as an alert id.
    for module in (stream, alerts, residents, resident_history, care_plans, events, devices, organisations,
                   priorities, users, kpis, audit, reports, health):
        app.include_router(module.router)
    mount_docs(app=app)
    static_dir = resources.files("api") / "static"
    app.mount("/console", StaticFiles(directory=str(static_dir), html=True), name="console")

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/console/")

    app.add_middleware(CORSMiddleware, allow_origins=list(opts.cors_origins), allow_credentials=False,
                       allow_methods=["GET", "POST", "PUT", "DELETE"], allow_headers=["Authorization", "Content-Type",
                                                                            "Last-Event-ID"])
    app.add_middleware(SecurityAndMetricsMiddleware, metrics=state.metrics)
    return app


async def serve_api(*, settings: Settings, stop: asyncio.Event, options: ApiOptions | None = None,
                    started: asyncio.Event | None = None) -> None:
    """Run the API with uvicorn until `stop` is set (for `telecare api` and `telecare run`)."""
    config = uvicorn.Config(create_app(settings=settings, options=options), host=settings.api_host,
                            port=settings.api_port, log_level=settings.log_level.lower(), access_log=False,
                            proxy_headers=False, server_header=False, lifespan="on", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)

    async def _stop_when_asked() -> None:
        await stop.wait()
        server.should_exit = True

    async def _report_started() -> None:
        # uvicorn exposes `started` only as a flag, so it is polled.
        while not server.started and not server.should_exit:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        if started is not None and server.started:
            started.set()

    async with asyncio.TaskGroup() as tasks:
        serving = tasks.create_task(server.serve(), name="api-uvicorn")
        watcher = tasks.create_task(_stop_when_asked(), name="api-stop-watcher")
        tasks.create_task(_report_started(), name="api-started")
        await asyncio.wait({serving})
        watcher.cancel()
