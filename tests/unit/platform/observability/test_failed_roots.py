"""An unsampled request records no span; when it fails, its root span is exported all the
same, with the trace and span ids its log lines carry."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.types import Message, Receive, Scope, Send

from sichrplace.platform.observability import tracing
from sichrplace.platform.observability.http import TelemetryMiddleware

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def exported(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """This module's middleware traced by a provider that samples nothing."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=tracing.EdgeSampler(0.0, keep_errors=True))
    processor = tracing.SampledOrFailedProcessor(exporter, schedule_delay_millis=10)
    provider.add_span_processor(processor)
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))
    monkeypatch.setattr(tracing, "_active", True)
    monkeypatch.setattr(tracing, "_failed_roots", processor)
    monkeypatch.setattr(tracing, "_ratio_bound", 0)  # whatever an earlier test installed
    yield exporter
    provider.shutdown()


def _app(status: int | None, seen: list[trace.SpanContext]) -> object:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        current = trace.get_current_span()
        seen.append(current.get_span_context())
        assert not current.is_recording()
        if status is None:
            raise RuntimeError("the database went away")
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


async def _call(status: int | None, *, traceparent: str | None = PARENT) -> trace.SpanContext:
    seen: list[trace.SpanContext] = []
    middleware = TelemetryMiddleware(_app(status, seen), access_log=False)  # type: ignore[arg-type]
    headers = [(b"traceparent", traceparent.encode())] if traceparent else []
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/v1/things",
        "headers": headers,
        "state": {"request_id": "req-1"},
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        return None

    with contextlib.suppress(RuntimeError):
        await middleware(scope, receive, send)
    return seen[0]


def _finished(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    assert tracing._failed_roots is not None
    tracing._failed_roots.force_flush()
    return list(exporter.get_finished_spans())


async def test_a_successful_unsampled_request_exports_nothing(
    exported: InMemorySpanExporter,
) -> None:
    await _call(200)
    await _call(409)
    await _call(404)
    assert _finished(exported) == []


async def test_a_5xx_leaves_its_root_with_the_ids_the_logs_carry(
    exported: InMemorySpanExporter,
) -> None:
    ids = await _call(503)
    (span,) = _finished(exported)
    assert span.context.trace_id == ids.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert span.context.span_id == ids.span_id
    assert span.parent is not None
    assert span.parent.span_id == 0xB7AD6B7169203331
    assert span.kind is SpanKind.SERVER
    assert span.status.status_code is StatusCode.ERROR
    attributes = dict(span.attributes or {})
    assert attributes["http.response.status_code"] == 503
    assert attributes["request_id"] == "req-1"
    assert (span.end_time or 0) >= (span.start_time or 1) > 0


async def test_an_exception_leaves_its_root_with_the_exception_event(
    exported: InMemorySpanExporter,
) -> None:
    ids = await _call(None, traceparent=None)
    (span,) = _finished(exported)
    assert span.context.trace_id == ids.trace_id  # a new trace, the one the logs name
    assert span.parent is None
    (event,) = span.events
    assert event.name == "exception"
    attributes = dict(event.attributes or {})
    assert attributes["exception.type"] == "RuntimeError"
    assert "the database went away" in str(attributes["exception.stacktrace"])


def test_the_callers_traceparent_is_read_directly_and_strictly() -> None:
    remote = tracing.parse_traceparent(PARENT)
    assert remote is not None
    assert (remote.trace_id, remote.span_id) == (
        0x0AF7651916CD43DD8448EB211C80319C,
        0xB7AD6B7169203331,
    )
    assert remote.is_remote
    assert remote.trace_flags.sampled
    for bad in (
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",  # zero trace id
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  # zero span id
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",  # no flags
        "nonsense",
    ):
        assert tracing.parse_traceparent(bad) is None, bad
    # With a tracestate (or a later version), OpenTelemetry's propagator reads both.
    with_state = tracing.parse_traceparent(PARENT, "congo=t61rcWkgMzE")
    assert with_state is not None
    assert with_state.trace_state.get("congo") == "t61rcWkgMzE"


def test_an_unsampled_callers_request_gets_a_span_in_its_trace_without_the_sdk(
    exported: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = tracing.parse_traceparent(PARENT)
    assert remote is not None
    unsampled = tracing.start_server_span("GET", PARENT)
    ids = unsampled.get_span_context()
    assert not unsampled.is_recording()
    assert ids.trace_id == remote.trace_id
    assert ids.span_id not in (0, remote.span_id)
    assert not ids.trace_flags.sampled
    # Kept by the ratio: the SDK's span, recorded, with the caller as its parent.
    monkeypatch.setattr(tracing, "_ratio_bound", 1 << 64)
    monkeypatch.setattr(
        tracing,
        "_tracer",
        TracerProvider(sampler=tracing.EdgeSampler(1.0, keep_errors=True)).get_tracer("t"),
    )
    sampled = tracing.start_server_span("GET", PARENT)
    assert sampled.is_recording()
    assert sampled.get_span_context().trace_id == remote.trace_id
    sampled.end()
