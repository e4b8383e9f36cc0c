"""The request's telemetry: its server span (continuing the caller's W3C trace context) and
its access line in the log."""

from __future__ import annotations

import time
from typing import Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sichrplace.platform.observability import logging as obs_logging
from sichrplace.platform.observability import tracing
from sichrplace.platform.observability.errors import note_unhandled
from sichrplace.platform.observability.metrics import route_template

log = structlog.get_logger("sichrplace.access")


class TelemetryMiddleware:
    """One server span and (with `access_log`) one `request` log line per HTTP request.

    Sits inside the request-id middleware (the id is known) and outside everything else (the
    span covers the whole request). The span is named and labelled when the request ends,
    when the route template is known. Unsampled requests get a span that records nothing
    (tracing.EdgeSampler); when one fails, its root span is exported all the same
    (tracing.export_failed_root). With tracing off, no span at all.
    """

    def __init__(self, app: ASGIApp, *, access_log: bool) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        facts = obs_logging.start_request_facts()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        if not tracing.tracing_active():
            try:
                await self.app(scope, receive, send_wrapper)
            except Exception as exc:
                note_unhandled(exc, route=route_template(scope))
                raise
            finally:
                self._log(scope, status, started, facts)
            return

        traceparent = tracestate = None
        for key, value in scope["headers"]:
            if key == b"traceparent":
                traceparent = value.decode("latin-1")
            elif key == b"tracestate":
                tracestate = value.decode("latin-1")
        method = scope["method"]
        started_ns = time.time_ns()
        span = tracing.start_server_span(method, traceparent, tracestate)
        token = otel_context.attach(trace.set_span_in_context(span))
        failure: BaseException | None = None
        try:
            await self.app(scope, receive, send_wrapper)
        except BaseException as exc:
            failure = exc
            tracing.mark_failed(span, exc)
            if isinstance(exc, Exception):
                note_unhandled(exc, route=route_template(scope))
            raise
        finally:
            recording = span.is_recording()
            # An exception escaping here is answered with a 500 (problems are answered inside).
            failed = status >= 500 or failure is not None
            if recording or failed:
                route = route_template(scope)
                attributes: dict[str, AttributeValue] = {
                    "http.request.method": method,
                    "http.route": route,
                    "http.response.status_code": status,
                    "request_id": str(scope.get("state", {}).get("request_id", "")),
                }
                if facts.get("user"):
                    attributes["enduser.hash"] = facts["user"]
                if recording:
                    span.update_name(f"{method} {route}")
                    span.set_attributes(attributes)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))
                else:
                    # An unsampled trace: no span was recorded; this failure still leaves one.
                    tracing.export_failed_root(
                        span,
                        f"{method} {route}",
                        parent=(
                            tracing.parse_traceparent(traceparent, tracestate)
                            if traceparent
                            else None
                        ),
                        kind=SpanKind.SERVER,
                        start_time_ns=started_ns,
                        attributes=attributes,
                        description=type(failure).__name__ if failure else f"HTTP {status}",
                        exc=failure,
                    )
            self._log(scope, status, started, facts, span.get_span_context())
            span.end()
            otel_context.detach(token)

    def _log(
        self,
        scope: Scope,
        status: int,
        started: float,
        facts: dict[str, str],
        ids: trace.SpanContext | None = None,
    ) -> None:
        if not self.access_log:
            return
        method, route = scope["method"], route_template(scope)
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        request_id = scope["state"].get("request_id") if "state" in scope else None
        if obs_logging.access_line(method, route, status, duration_ms, facts, request_id, ids):
            return
        fields: dict[str, Any] = {
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": duration_ms,
            **facts,
        }
        if request_id is not None:
            fields["request_id"] = request_id
        log.info("request", **fields)
