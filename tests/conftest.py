"""Shared fixtures: the app in-process (httpx ASGI transport) against the real local stack.

The stack (Postgres primary + replica, PgBouncer, Redis, nginx, API instances, worker) is
started by `scripts/test.sh` via `sichrplace stack up` before pytest runs.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sichrplace.app import create_app, parts_of_app
from sichrplace.config import Settings, TracingSettings, get_settings
from sichrplace.platform.db.engines import Database
from sichrplace.platform.observability import tracing
from sichrplace.platform.parts import Parts

# Spans of the in-process app and of code the tests run (every trace sampled): the provider
# is installed before any app is built, so its engines and Redis client are instrumented.
SPANS = InMemorySpanExporter()


@pytest.fixture(scope="session")
def settings() -> Settings:
    tracing.setup_tracing(
        TracingSettings(enabled=True, sample_ratio=1.0),
        service_name="sichrplace-test",
        exporter=SPANS,
    )
    configured = get_settings()
    # Tests write rows and search for them at once: the facet index looks for changes after
    # each request began. (The deployed bound, 0.25 s, is tested where it matters: the
    # facet index's own tests and an edit seen in search through a second instance.)
    configured.facet_index = configured.facet_index.model_copy(
        update={"max_staleness_seconds": 0.0}
    )
    return configured


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """An API instance in this process, between its start-up and its shutdown."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


def app_client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with running_app(settings) as application:
        yield application


@pytest.fixture(scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(app) as c:
        yield c


@pytest.fixture(scope="session")
def parts(app: FastAPI) -> Parts:
    """The in-process application's parts (the composition root's container)."""
    return parts_of_app(app)


@pytest.fixture(scope="session")
def db(parts: Parts) -> Database:
    return parts.db


@pytest.fixture(scope="session")
def redis(parts: Parts) -> aioredis.Redis:
    return parts.redis


@pytest.fixture(scope="session")
def stack_url(settings: Settings) -> str:
    """The public entry point of the running stack (nginx)."""
    return f"http://127.0.0.1:{settings.stack.nginx_port}"


@pytest.fixture
def spans(settings: Settings) -> InMemorySpanExporter:
    """The in-memory exporter, emptied for this test (call `tracing.flush()` before reading:
    spans are exported in batches)."""
    tracing.flush()
    SPANS.clear()
    return SPANS


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:12]
