"""Client spans for SQL (SQLAlchemy engines) and Redis, only when tracing is on: with it off,
the clients run uninstrumented (no wrapper on any call). Outbound HTTP has its own span in
`platform/resilience/client.py` (the URL without its query: API keys travel there)."""

from __future__ import annotations

import types
from typing import Any

import redis.asyncio as aioredis
from opentelemetry import trace
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.metrics import get_meter
from sqlalchemy.ext.asyncio import AsyncEngine

from sichrplace.platform.observability import tracing

_instrumented: set[int] = set()


def instrument_engine(engine: AsyncEngine) -> None:
    """A span per SQL statement (the statement text has bind parameters, never values).

    EngineTracer is used directly: the instrumentor's package declares SQLAlchemy < 2.1, but
    the engine events it listens to (before/after_cursor_execute, handle_error) are the same
    in 2.1 (checked by tests/platform/test_tracing.py, which needs the SQL spans).
    """
    sync_engine = engine.sync_engine
    if not tracing.tracing_active() or id(sync_engine) in _instrumented:
        return
    _instrumented.add(id(sync_engine))
    # Pool usage is counted by our Prometheus metrics; this meter is OpenTelemetry's no-op.
    usage = get_meter(tracing.TRACER_NAME).create_up_down_counter("db.client.connections.usage")
    EngineTracer(tracing.SkippingTracer(tracing.tracer()), sync_engine, connections_usage=usage)  # type: ignore[no-untyped-call]


def instrument_redis(client: aioredis.Redis) -> None:
    """A span per Redis command and pipeline (arguments shown as `?`)."""
    if not tracing.tracing_active() or id(client) in _instrumented:
        return
    _instrumented.add(id(client))
    RedisInstrumentor.instrument_client(client, tracer_provider=tracing.SkippingTracerProvider())
    _traced_only_when_recording(client)


def _traced_only_when_recording(client: aioredis.Redis) -> None:
    """Commands and pipelines outside a recorded trace (99% of requests at the deployed ratio)
    skip the instrumentation: it formats every command's arguments and span name before it
    asks the tracer, ~3 µs a command whether a span is recorded or not."""
    traced_command, traced_pipeline = client.execute_command, client.pipeline
    plain_command = types.MethodType(type(client).execute_command, client)
    plain_pipeline = types.MethodType(type(client).pipeline, client)

    async def execute_command(*args: Any, **options: Any) -> Any:
        if trace.get_current_span().is_recording():
            return await traced_command(*args, **options)  # type: ignore[no-untyped-call]
        return await plain_command(*args, **options)

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        if trace.get_current_span().is_recording():
            return traced_pipeline(*args, **kwargs)
        return plain_pipeline(*args, **kwargs)

    client.execute_command = execute_command  # type: ignore[method-assign]
    client.pipeline = pipeline  # type: ignore[method-assign]
