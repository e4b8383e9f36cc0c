"""Spans of real requests (in-process app, real Postgres and Redis), and trace context into
jobs and out through outbound calls."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import httpx
import opentelemetry.instrumentation.redis as redis_instrumentation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from procrastinate.jobs import Job
from sqlalchemy import text

from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from sichrplace.platform.jobs import enqueue
from sichrplace.platform.jobs.worker import trace_job
from sichrplace.platform.observability import tracing
from sichrplace.platform.resilience.client import Policy, ResilientClient
from tests.platform.jobs.tasks_for_tests import noop


def _finished(spans: InMemorySpanExporter) -> list[ReadableSpan]:
    tracing.flush()
    return list(spans.get_finished_spans())


async def test_a_request_has_server_sql_redis_and_custom_spans(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    response = await client.get(f"/api/v1/listings/{uuid.uuid4()}")  # a miss: SQL and Redis
    assert response.status_code == 404
    request_id = response.headers["x-request-id"]
    found = _finished(spans)
    server = next(s for s in found if s.attributes and s.attributes.get("request_id") == request_id)
    assert server.kind is SpanKind.SERVER
    assert server.name == "GET /api/v1/listings/{listing_id}"
    assert server.attributes is not None
    assert server.attributes["http.response.status_code"] == 404
    trace_spans = [s for s in found if s.context and s.context.trace_id == server.context.trace_id]
    names = {s.name for s in trace_spans}
    assert {"listing.detail", "cache.get_or_compute"} <= names
    systems = {str((s.attributes or {}).get("db.system", "")) for s in trace_spans}
    assert "redis" in systems, names
    assert "postgresql" in systems, names
    # A 404 is the caller's mistake, not a failure of ours.
    assert server.status.is_ok


async def test_the_enqueued_job_carries_the_trace_and_its_run_continues_it(
    db: Database, unique: str, spans: InMemorySpanExporter
) -> None:
    # A queue no worker serves: the job stays as enqueued.
    with tracing.span("test.enqueue") as current:
        async with transaction(db) as session:
            job_id = await enqueue(session, noop, queue=f"trace-{unique}", token=unique)
        trace_id = current.get_span_context().trace_id
    async with db.primary.connect() as conn:
        args = (
            await conn.execute(
                text("SELECT args FROM procrastinate_jobs WHERE id = :id"), {"id": job_id}
            )
        ).scalar_one()
    assert args["token"] == unique
    assert args[tracing.JOB_TRACE_KEY].split("-")[1] == format(trace_id, "032x")

    # The worker's middleware takes the context out and runs the handler in the same trace.
    job = Job(
        id=job_id,
        queue=f"trace-{unique}",
        lock=None,
        queueing_lock=None,
        task_name=noop.name,
        task_kwargs=dict(args),
    )
    handler_saw: dict[str, Any] = {}

    async def call_next() -> None:
        handler_saw.update(job.task_kwargs)
        handler_saw["trace_id"] = tracing.current_ids()

    await trace_job(call_next, SimpleNamespace(job=job), SimpleNamespace())  # type: ignore[arg-type]
    assert handler_saw["token"] == unique
    assert tracing.JOB_TRACE_KEY not in handler_saw
    assert handler_saw["trace_id"][0] == format(trace_id, "032x")
    job_span = next(s for s in _finished(spans) if s.name == f"job {noop.name}")
    assert job_span.kind is SpanKind.CONSUMER
    assert job_span.parent is not None
    assert job_span.parent.is_remote


async def test_outbound_calls_send_traceparent() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("traceparent", ""))
        return httpx.Response(200, json={})

    client = ResilientClient(
        "tracetest", policy=Policy(max_attempts=1), transport=httpx.MockTransport(handler)
    )
    try:
        with tracing.span("test.outbound") as current:
            await client.get("http://dependency.invalid/thing?key=secret")
            trace_id = format(current.get_span_context().trace_id, "032x")
    finally:
        await client.aclose()
    assert seen
    assert seen[0].split("-")[1] == trace_id


async def test_redis_commands_outside_a_recorded_trace_skip_the_instrumentation(
    redis: Any, spans: InMemorySpanExporter, unique: str, monkeypatch: Any
) -> None:
    """The instrumentation formats a command's arguments before it asks the tracer: outside
    a recorded trace it is not called at all (inside one it records the command)."""
    formatted: list[object] = []
    real = redis_instrumentation._format_command_args
    monkeypatch.setattr(
        redis_instrumentation,
        "_format_command_args",
        lambda args: formatted.append(args) or real(args),
    )
    key = f"test:trace:{unique}"
    await redis.set(key, "1", ex=60)  # no span at all
    async with redis.pipeline(transaction=False) as pipe:
        pipe.get(key)
        await pipe.execute()
    assert formatted == []
    with tracing.span("test.recorded") as recorded:
        await redis.get(key)
    assert len(formatted) == 1
    names = {
        s.name
        for s in _finished(spans)
        if s.parent and s.parent.span_id == recorded.get_span_context().span_id
    }
    assert "GET" in names
