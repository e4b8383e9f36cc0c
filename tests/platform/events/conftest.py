"""An API instance of this process behind a real HTTP server (uvicorn, as deployed), with the
event stream's intervals shortened: streams need a server that sends as it goes (the ASGI
test transport collects a whole response first)."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from sichrplace.app import Application, parts_of_app
from sichrplace.config import Settings
from sichrplace.platform.events.hub import EVENT_HUB, EventHub
from sichrplace.platform.http.server import CoalescingHttpToolsProtocol
from sichrplace.platform.parts import Parts
from tests.conftest import running_app
from tests.fakes.server import free_port

# Short enough for tests to see them happen; checks of Postgres rare unless a test asks, so
# that what a test sees arrived live (or repaired) and not by a check.
FAST = {
    "heartbeat_seconds": 0.3,
    "retry_ms": 500,
    "poll_seconds": 60.0,
    "degraded_poll_seconds": 60.0,
    "redis_ping_seconds": 0.5,
    "reconnect_min_seconds": 0.05,
    "reconnect_max_seconds": 0.5,
}


@dataclass
class Instance:
    url: str
    app: Application
    parts: Parts
    hub: EventHub
    http: httpx.AsyncClient


@asynccontextmanager
async def serving(settings: Settings, **events: Any) -> AsyncIterator[Instance]:
    """An instance whose `settings.events` has FAST and `events` in place of the defaults."""
    own = copy.copy(settings)
    own.events = settings.events.model_copy(update={**FAST, **events})
    own.cache = settings.cache.model_copy(update={"plan_stats_warm_seconds": 0})
    async with running_app(own) as app:
        assert isinstance(app, Application)
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=free_port(),
            http=CoalescingHttpToolsProtocol,
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
            await asyncio.sleep(0.01)
        parts = parts_of_app(app)
        hub = parts.get(EVENT_HUB)
        url = f"http://127.0.0.1:{config.port}"
        try:
            async with asyncio.timeout(10):
                while not hub.connected:  # noqa: ASYNC110 (the hub's first subscription)
                    await asyncio.sleep(0.02)
            async with httpx.AsyncClient(base_url=url, timeout=10) as http:
                yield Instance(url, app, parts, hub, http)
        finally:
            server.should_exit = True
            await task
