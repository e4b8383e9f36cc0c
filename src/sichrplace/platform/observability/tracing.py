"""OpenTelemetry traces: the provider, sampling, export, and helpers for new code.

Sampling (docs/operations.md "Tracing"): a trace is kept or not once, from its trace id
(`sample_ratio`), wherever it starts -- an API request, a job, a request from another service.
The ratio is applied to the id even when the caller's `traceparent` says "sampled": the public
entry point must not let clients choose what we record. A job continuing a request's trace
decides the same way on the same id, so it is kept exactly when the request was.

Errors: head sampling decides before anyone knows the request will fail. With `keep_errors`
a failed request or job of an unsampled trace still leaves its root span: for HTTP requests the
telemetry middleware builds it when the request ends in a 5xx or an exception
(`export_failed_root`, with the ids the request's log lines carry); a job's root is recorded
but unsampled and exported only when it fails. Children of unsampled roots are never recorded.
An unsampled request that succeeds so costs no recorded span at all (recording one for every
request, just in case, cost about 10 µs of CPU per request).
"""

from __future__ import annotations

import functools
import inspect
import random
import re
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, ParamSpec, TypeVar, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult, TraceIdRatioBased
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
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
# Where `export_failed_root` hands its spans (set by `setup_tracing` when errors are kept).
_failed_roots: SpanProcessor | None = None
_resource: Resource = Resource.get_empty()
# The sampling ratio as a bound on a trace id's low 64 bits (EdgeSampler's; 0: none kept).
_ratio_bound = 0
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_UNSAMPLED = TraceFlags(TraceFlags.DEFAULT)
_NO_SPAN_ID = "0" * 16


class EdgeSampler(Sampler):
    """Children follow their in-process parent; a root, or a span continuing a remote parent
    (a client, nginx, a job's enqueuer), is decided by the ratio on its trace id. Unsampled
    roots other than HTTP server spans are still recorded when `keep_errors`, so a failure can
    be exported; an HTTP request's failure is exported by `export_failed_root` instead."""

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
        if kind is SpanKind.SERVER:
            return SamplingResult(Decision.DROP, None, state)
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
    global _active, _failed_roots, _resource, _ratio_bound
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
    processor = SampledOrFailedProcessor(exporter, max_queue_size=settings.max_queue_size)
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    _failed_roots = processor if settings.keep_errors else None
    _ratio_bound = TraceIdRatioBased(settings.sample_ratio).bound
    _resource = resource
    _active = True
    return True


def tracing_active() -> bool:
    return _active


def keeps(trace_id: int) -> bool:
    """The sampling decision for a trace (EdgeSampler's, on the same bits)."""
    return trace_id & TraceIdRatioBased.TRACE_ID_LIMIT < _ratio_bound


def parse_traceparent(traceparent: str, tracestate: str | None = None) -> SpanContext | None:
    """The caller's span from W3C headers, or None when there is none or it is malformed.

    A version-00 `traceparent` alone (what nginx sends) is read here directly; anything else
    goes through OpenTelemetry's propagator (later versions, `tracestate`)."""
    match = _TRACEPARENT.fullmatch(traceparent) if tracestate is None else None
    if match is not None:
        trace_id, span_id = int(match[1], 16), int(match[2], 16)
        if not trace_id or not span_id:
            return None
        return SpanContext(trace_id, span_id, True, TraceFlags(int(match[3], 16) & 1))
    headers = {"traceparent": traceparent}
    if tracestate is not None:
        headers["tracestate"] = tracestate
    remote = trace.get_current_span(_PROPAGATOR.extract(headers)).get_span_context()
    return remote if remote.is_valid else None


def start_server_span(method: str, traceparent: str | None, tracestate: str | None = None) -> Span:
    """The span of an HTTP request continuing the caller's W3C trace context, if any.

    An unsampled one continuing a version-00 `traceparent` is made here, without the SDK and
    without a span context for the caller (sampler, id generator and span factory cost ~8 µs;
    behind nginx every request has a caller and 99% are unsampled): a non-recording span with
    a fresh span id in the caller's trace. The caller's span is read again
    (`parse_traceparent`) only when it is needed: a kept trace, a failure to export."""
    if traceparent is not None and tracestate is None:
        match = _TRACEPARENT.fullmatch(traceparent)
        if match is not None:
            trace_id = int(match[1], 16)
            if trace_id and not keeps(trace_id) and match[2] != _NO_SPAN_ID:
                span_id = random.getrandbits(64) or 1  # an id, not a secret (as the SDK draws it)
                return NonRecordingSpan(SpanContext(trace_id, span_id, False, _UNSAMPLED))
    remote = parse_traceparent(traceparent, tracestate) if traceparent else None
    if remote is not None and not keeps(remote.trace_id):
        span_id = random.getrandbits(64) or 1
        return NonRecordingSpan(
            SpanContext(remote.trace_id, span_id, False, _UNSAMPLED, remote.trace_state)
        )
    parent = trace.set_span_in_context(NonRecordingSpan(remote)) if remote is not None else None
    return _tracer.start_span(method, context=parent, kind=SpanKind.SERVER)


def export_failed_root(
    unsampled: Span,
    name: str,
    *,
    parent: SpanContext | None,
    kind: SpanKind,
    start_time_ns: int,
    attributes: Mapping[str, AttributeValue],
    description: str,
    exc: BaseException | None = None,
) -> None:
    """Export the root span of a failed request whose trace was not sampled: built after the
    fact with the ids of `unsampled` (the ones its log lines carry), the caller's parent, an
    error status and, for an exception, the event `record_exception` would have added."""
    if _failed_roots is None or unsampled.is_recording():
        return
    ids = unsampled.get_span_context()
    if not ids.is_valid:
        return
    events = []
    if exc is not None:
        events.append(
            Event(
                "exception",
                {
                    "exception.type": type(exc).__qualname__,
                    "exception.message": str(exc),
                    "exception.stacktrace": "".join(traceback.format_exception(exc)),
                    "exception.escaped": True,
                },
            )
        )
    root = ReadableSpan(
        name=name,
        context=SpanContext(ids.trace_id, ids.span_id, False, ids.trace_flags, ids.trace_state),
        parent=parent,
        resource=_resource,
        attributes=attributes,
        events=events,
        kind=kind,
        status=Status(StatusCode.ERROR, description),
        start_time=start_time_ns,
        end_time=time.time_ns(),
        instrumentation_scope=InstrumentationScope(TRACER_NAME, __version__),
    )
    _failed_roots.on_end(root)


def flush(timeout_millis: int = 5000) -> None:
    """Export what is queued now (tests, before a process exits)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush(timeout_millis)


def tracer() -> trace.Tracer:
    return _tracer


# -- helpers for code that wants a span of its own ------------------------------------------


class _Unrecorded(AbstractContextManager[Span]):
    """What a span inside an unsampled trace (or with tracing off) is: nothing to start, no
    context to attach, the ids of the span around it."""

    __slots__ = ("span",)

    def __init__(self, current: Span) -> None:
        self.span = current

    def __enter__(self) -> Span:
        return self.span

    def __exit__(self, *_: object) -> None:
        return None


def _unrecorded(context: otel_context.Context | None = None) -> _Unrecorded | None:
    """An `_Unrecorded` when a span started now (in `context`) would be dropped anyway: with
    tracing off, or inside this process's span of a trace that is not sampled. Creating it
    only for the sampler to drop it cost ~8 µs per span; unsampled is 90% of requests."""
    if not _active:
        return _Unrecorded(trace.INVALID_SPAN)
    ids = trace.get_current_span(context).get_span_context()
    if ids.is_valid and not ids.is_remote and not ids.trace_flags.sampled:
        return _Unrecorded(trace.NonRecordingSpan(ids))
    return None


class SkippingTracer(trace.Tracer):
    """A tracer for instrumented libraries (SQL, Redis): no span objects inside an unsampled
    trace, the wrapped tracer otherwise."""

    def __init__(self, inner: trace.Tracer) -> None:
        self._inner = inner

    def start_span(
        self,
        name: str,
        context: otel_context.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> Span:
        skip = _unrecorded(context)
        if skip is not None:
            return skip.span
        return self._inner.start_span(
            name, context, kind, attributes, links, start_time, record_exception,
            set_status_on_exception,
        )  # fmt: skip

    @contextmanager
    def start_as_current_span(  # type: ignore[override]  # a plain contextmanager
        self,
        name: str,
        context: otel_context.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[Span]:
        skip = _unrecorded(context)
        if skip is not None:
            yield skip.span
            return
        with self._inner.start_as_current_span(
            name, context, kind, attributes, links, start_time, record_exception,
            set_status_on_exception, end_on_exit,
        ) as current:  # fmt: skip
            yield current


class SkippingTracerProvider(trace.TracerProvider):
    """Hands instrumented libraries a `SkippingTracer` over the global provider's."""

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> trace.Tracer:
        return SkippingTracer(
            trace.get_tracer(
                instrumenting_module_name, instrumenting_library_version, schema_url=schema_url
            )
        )


def span(
    name: str,
    attributes: Mapping[str, AttributeValue] | None = None,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
) -> AbstractContextManager[Span]:
    """A child span of the current one for the block:
    `with span("viewing.book", {"viewing.slot_id": str(slot_id)}):`.

    Unhandled exceptions are recorded on it; a 4xx problem (the caller's mistake, answered
    as designed) does not mark the span as an error, anything else does. Inside an unsampled
    trace nothing is started (the block sees the span around it, not recording).
    """
    skip = _unrecorded()
    if skip is not None:
        return skip
    return _recorded_span(name, attributes, kind)


@contextmanager
def _recorded_span(
    name: str,
    attributes: Mapping[str, AttributeValue] | None,
    kind: SpanKind,
    context: otel_context.Context | None = None,
) -> Iterator[Span]:
    with _tracer.start_as_current_span(
        name,
        context=context,
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


def continued_span(
    name: str,
    headers: Mapping[str, str] | None,
    attributes: Mapping[str, AttributeValue] | None = None,
    *,
    kind: SpanKind = SpanKind.CONSUMER,
) -> AbstractContextManager[Span]:
    """A span continuing the trace in `headers` (a job's enqueuer, a webhook's sender), or a
    new trace when there is none."""
    parent = remote_context(headers) if headers else None
    return _recorded_span(name, attributes, kind, parent)
