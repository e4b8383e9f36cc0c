"""The request's telemetry: its server span (continuing the caller's W3C trace context) and
its access line in the log."""

from __future__ import annotations

import time

import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
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
    when the route template is known. Unsampled requests get a span that records little or
    nothing (tracing.EdgeSampler); with tracing off, none at all.
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

        parent = None
        for key, value in scope["headers"]:
            if key == b"traceparent":
                parent = tracing.remote_context({"traceparent": value.decode("latin-1")})
                break
        method = scope["method"]
        span = tracing.tracer().start_span(method, context=parent, kind=SpanKind.SERVER)
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        try:
            await self.app(scope, receive, send_wrapper)
        except BaseException as exc:
            tracing.mark_failed(span, exc)
            if isinstance(exc, Exception):
                note_unhandled(exc, route=route_template(scope))
            raise
        finally:
            if span.is_recording():
                route = route_template(scope)
                span.update_name(f"{method} {route}")
                span.set_attributes(
                    {
                        "http.request.method": method,
                        "http.route": route,
                        "http.response.status_code": status,
                        "request_id": str(scope.get("state", {}).get("request_id", "")),
                    }
                )
                if facts.get("user"):
                    span.set_attribute("enduser.hash", facts["user"])
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))
            self._log(scope, status, started, facts)
            span.end()
            otel_context.detach(token)

    def _log(self, scope: Scope, status: int, started: float, facts: dict[str, str]) -> None:
        if not self.access_log:
            return
        log.info(
            "request",
            method=scope["method"],
            route=route_template(scope),
            status=status,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            **facts,
        )
