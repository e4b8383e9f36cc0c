"""create_app(): the application, its middleware order and routers; its parts come from the
composition root (`sichrplace/composition.py`) for the lifetime of the process."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from sichrplace import __version__
from sichrplace.composition import api_parts
from sichrplace.config import Settings, get_settings
from sichrplace.media import endpoints as media_endpoints
from sichrplace.ops import endpoints as ops
from sichrplace.platform.bulkhead import Bulkhead
from sichrplace.platform.http.apidocs import install_docs
from sichrplace.platform.http.middleware import (
    AdmissionMiddleware,
    InputGuardMiddleware,
    RequestIdMiddleware,
)
from sichrplace.platform.http.openapi import install_openapi
from sichrplace.platform.http.problems import install_error_handlers
from sichrplace.platform.observability import metrics
from sichrplace.platform.observability.http import TelemetryMiddleware
from sichrplace.platform.observability.setup import setup_observability
from sichrplace.platform.parts import Parts
from sichrplace.viewings import endpoints as viewings_endpoints

API_PREFIX = "/api/v1"


class Application(FastAPI):
    """The API application; `parts` is open between start-up and shutdown."""

    parts: Parts | None = None


def _api_routers() -> list[APIRouter]:
    """Every domain router mounted under /api/v1 (imported here to keep start-up explicit)."""
    from sichrplace.accounts import endpoints as accounts
    from sichrplace.accounts.dependencies import current_user
    from sichrplace.analytics import endpoints as analytics
    from sichrplace.contracts import endpoints as contracts
    from sichrplace.listings import endpoints as listings
    from sichrplace.media import endpoints as media
    from sichrplace.messaging import endpoints as messaging
    from sichrplace.notifications.endpoints import notifications_router
    from sichrplace.payments import endpoints as payments
    from sichrplace.platform.events.http import events_router
    from sichrplace.privacy import endpoints as privacy
    from sichrplace.search import endpoints as search
    from sichrplace.viewings import endpoints as viewings
    from sichrplace.web import rum

    # Routes are matched in order: the hottest reads first (matching is a linear scan).
    return [
        search.router,
        listings.router,
        analytics.router,  # GET /listings/{id}/stats
        media.router,
        accounts.router,
        messaging.router,
        contracts.router,
        payments.router,
        viewings.slots_router,
        viewings.router,
        viewings.calendar_api_router,
        events_router(current_user),
        notifications_router(current_user),
        privacy.router,
        ops.api_router,
        rum.router,  # POST /rum: the browsers' Core Web Vitals (anonymous, rate limited)
    ]


def _install_web(app: FastAPI, settings: Settings) -> None:
    """The web pages at the site's root, the browser's event stream (/events, authenticated by
    the session cookie) and the built assets (/static/; nginx serves them itself)."""
    from starlette.staticfiles import StaticFiles

    from sichrplace.platform.events.http import events_router
    from sichrplace.web.routes import web_routers
    from sichrplace.web.session import stream_user

    for router in web_routers():
        app.include_router(router)
    app.include_router(events_router(stream_user), include_in_schema=False)
    app.mount("/static", StaticFiles(directory=settings.web.static_dir, check_dir=False))


def _tune_gc() -> None:
    """Move what start-up allocated out of the collector's way and collect the young
    generation less often (full collections showed as a p99 on cached reads:
    docs/performance-log.md, round 1)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def parts_of_app(app: FastAPI) -> Parts:
    """The parts of a started application (tests, the serve command)."""
    parts = getattr(app, "parts", None)
    if parts is None:
        raise RuntimeError("the application has not started")
    assert isinstance(parts, Parts)
    return parts


def create_app(settings: Settings | None = None) -> Application:
    settings = settings or get_settings()
    setup_observability(settings, service="api")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        assert isinstance(app, Application)
        async with api_parts(settings) as parts:
            app.parts = parts
            _tune_gc()
            try:
                yield
            finally:
                app.parts = None

    # FastAPI's own docs pages load Swagger UI and ReDoc from a CDN: ours serve local copies.
    app = Application(
        # FastAPI's native OpenTelemetry (0.165) would add a second server span, request
        # metrics and a log bridge on every request: ours (TelemetryMiddleware) is the one
        # server span (request id, keep-errors sampling) and Prometheus has the metrics.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
        title="SichrPlace API",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    install_openapi(app, API_PREFIX)
    install_docs(app, settings.app.node_modules_dir)
    for router in _api_routers():
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(ops.router)
    app.include_router(viewings_endpoints.calendar_router)  # /calendar/{token}.ics
    app.include_router(metrics.router)
    app.include_router(media_endpoints.files_router)  # /media/ without nginx (tests, serve)
    _install_web(app, settings)
    # Added last = outermost: ids, then the trace and access line, then metrics, then the
    # input guard (body size, text), then
    # admission, then everything else.
    if settings.app.max_active_requests:
        app.add_middleware(
            AdmissionMiddleware,
            bulkhead=Bulkhead(
                "requests",
                limit=settings.app.max_active_requests,
                max_wait_seconds=settings.app.admission_max_wait_seconds,
            ),
            # An event stream stays open for as long as its client listens: it must not hold a
            # slot (the event hub caps streams per user and per process instead).
            exempt=("/healthz", "/readyz", "/metrics", API_PREFIX + "/events", "/events"),
        )
    app.add_middleware(
        InputGuardMiddleware,
        json_limit=settings.app.max_json_body_bytes,
        upload_limit=settings.app.max_upload_body_bytes,
    )
    app.add_middleware(metrics.MetricsMiddleware)
    app.add_middleware(TelemetryMiddleware, access_log=settings.log.access_log)
    app.add_middleware(RequestIdMiddleware)
    return app
