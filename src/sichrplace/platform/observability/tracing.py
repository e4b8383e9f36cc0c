"""OpenTelemetry traces: the provider, sampling, export, and helpers for new code.

Sampling (docs/operations.md "Tracing"): a trace is kept or not once, from its trace id
(`sample_ratio`), wherever it starts -- an API request, a job, a request from another service.
The ratio is applied to the id even when the caller's `traceparent` says "sampled": the public
entry point must not let clients choose what we record. A job continuing a request's trace
decides the same way on the same id, so it is kept exactly when the request was.

Errors: head sampling decides before anyone knows the request will fail. With `keep_errors`
the root span of an unsampled request or job is still recorded (its children are not: they
cost next to nothing), and the exporting processor sends it when it ended with an error (a 5xx
or an exception). A failing unsampled request so leaves one span with its route, status,
request id and exception; a sampled one leaves its whole tree.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult, TraceIdRatioBased
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes, AttributeValue

from sichrplace import __version__
from sichrplace.config import TracingSettings
from sichrplace.kit.errors import ProblemError

P = ParamSpec("P")
R = TypeVar("R")

TRACER_NAME = "sichrplace"
_PROPAGATOR = TraceContextTextMapPropagator()
# The key under which a job's arguments carry its enqueuer's trace context.
JOB_TRACE_KEY = "_traceparent"

_tracer: trace.Tracer = trace.get_tracer(TRACER_NAME)
_active = False


class EdgeSampler(Sampler):
    """Children follow their in-process parent; a root, or a span continuing a remote parent
    (a client, nginx, a job's enqueuer), is decided by the ratio on its trace id. Unsampled
    roots are still recorded when `keep_errors`, so a failure can be exported."""

    def __init__(self, ratio: float, *, keep_errors: bool) -> None:
        self._ratio = TraceIdRatioBased(ratio)
        self._unsampled = Decision.RECORD_ONLY if keep_errors else Decision.DROP

    def should_sample(
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        state = parent.trace_state if parent.is_valid else None
        if parent.is_valid and not parent.is_remote:
            sampled = parent.trace_flags.sampled
            return SamplingResult(
                Decision.RECORD_AND_SAMPLE if sampled else Decision.DROP, None, state
            )
        if trace_id & TraceIdRatioBased.TRACE_ID_LIMIT < self._ratio.bound:
            return SamplingResult(Decision.RECORD_AND_SAMPLE, None, state)
        return SamplingResult(self._unsampled, None, state)

    def get_description(self) -> str:
        return f"EdgeSampler({self._ratio.rate}, unsampled={self._unsampled.name})"


class SampledOrFailedProcessor(BatchSpanProcessor):
    """Batch export of sampled spans, plus recorded-but-unsampled ones that ended in error
    (the roots `EdgeSampler` records for that purpose)."""

    def on_end(self, span: ReadableSpan) -> None:
        ctx = span.context
        if ctx is None:
            return
        if ctx.trace_flags.sampled or span.status.status_code is StatusCode.ERROR:
            self._batch_processor.emit(span)


def setup_tracing(
    settings: TracingSettings,
    *,
    service_name: str | None = None,
    exporter: SpanExporter | None = None,
) -> bool:
    """Install the process's tracer provider; True when spans are recorded and exported.

    Without an exporter (tests pass one) and without `otlp_endpoint` nothing is installed:
    every span is the API's no-op. The provider can be installed once per process; later
    calls keep the first one.
    """
    global _active
    if _active:
        return True
    if not settings.enabled:
        return False
    if exporter is None:
        if not settings.otlp_endpoint:
            return False
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(
            endpoint=settings.otlp_endpoint, timeout=settings.export_timeout_seconds
        )
    resource = Resource.create(
        {"service.name": service_name or settings.service_name, "service.version": __version__}
    )
    provider = TracerProvider(
        resource=resource,
        sampler=EdgeSampler(settings.sample_ratio, keep_errors=settings.keep_errors),
    )
    provider.add_span_processor(
        SampledOrFailedProcessor(exporter, max_queue_size=settings.max_queue_size)
    )
    trace.set_tracer_provider(provider)
    _active = True
    return True


def tracing_active() -> bool:
    return _active


def flush(timeout_millis: int = 5000) -> None:
    """Export what is queued now (tests, before a process exits)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush(timeout_millis)


def tracer() -> trace.Tracer:
    return _tracer


# -- helpers for code that wants a span of its own ------------------------------------------


@contextmanager
def span(
    name: str,
    attributes: Mapping[str, AttributeValue] | None = None,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
) -> Iterator[Span]:
    """A child span of the current one for the block:
    `with span("viewing.book", {"viewing.slot_id": str(slot_id)}):`.

    Unhandled exceptions are recorded on it; a 4xx problem (the caller's mistake, answered
    as designed) does not mark the span as an error, anything else does.
    """
    with _tracer.start_as_current_span(
        name,
        kind=kind,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        try:
            yield current
        except BaseException as exc:
            mark_failed(current, exc)
            raise


def mark_failed(current: Span, exc: BaseException) -> None:
    """Record `exc` on `current`, as an error unless it is a problem below 500."""
    if not current.is_recording():
        return
    current.record_exception(exc)
    if isinstance(exc, ProblemError) and exc.status < 500:
        current.set_attribute("problem.status", exc.status)
        return
    current.set_status(Status(StatusCode.ERROR, type(exc).__name__))


def traced(
    name: str | None = None, attributes: Mapping[str, AttributeValue] | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a function (sync or async) so each call runs in its own span, named `name`
    (default: module.qualname): `@traced("payment.webhook")`."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        span_name = name or f"{fn.__module__}.{fn.__qualname__}"
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                with span(span_name, attributes):
                    return await fn(*args, **kwargs)

            return cast(Callable[P, R], run_async)

        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            with span(span_name, attributes):
                return fn(*args, **kwargs)

        return run

    return decorate


def set_attributes(**attributes: AttributeValue) -> None:
    """Add attributes to the current span (nothing when it is not recorded)."""
    current = trace.get_current_span()
    if current.is_recording():
        current.set_attributes(attributes)


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) of the current span as hex, or None outside any trace."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


# -- W3C trace context across process boundaries ------------------------------------------------


def carrier() -> dict[str, str]:
    """The current trace context as W3C headers (`traceparent`, `tracestate`); empty outside
    a trace."""
    headers: dict[str, str] = {}
    if _active:
        _PROPAGATOR.inject(headers)
    return headers


def remote_context(headers: Mapping[str, str]) -> otel_context.Context | None:
    """The context a remote caller passed (W3C headers), or None when it passed none."""
    if not headers.get("traceparent"):
        return None
    return _PROPAGATOR.extract(headers)


@contextmanager
def continued_span(
    name: str,
    headers: Mapping[str, str] | None,
    attributes: Mapping[str, AttributeValue] | None = None,
    *,
    kind: SpanKind = SpanKind.CONSUMER,
) -> Iterator[Span]:
    """A span continuing the trace in `headers` (a job's enqueuer, a webhook's sender), or a
    new trace when there is none."""
    parent = remote_context(headers) if headers else None
    with _tracer.start_as_current_span(
        name,
        context=parent,
        kind=kind,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        try:
            yield current
        except BaseException as exc:
            mark_failed(current, exc)
            raise
