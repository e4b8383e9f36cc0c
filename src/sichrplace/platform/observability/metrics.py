"""Prometheus metrics: HTTP RED metrics per route template, requests in flight, and the
/metrics endpoint (docs/operations.md "Metrics" is the catalogue of every metric)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTTP_REQUESTS = Counter(
    "sichrplace_http_requests_total",
    "HTTP requests by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "sichrplace_http_request_duration_seconds",
    "HTTP request latency by method and route template.",
    ["method", "route"],
    # 0.4 and 1 are the latency SLOs' thresholds (deploy/slo/slos.yaml): an SLI counts the
    # requests under a bucket's bound exactly, with no interpolation between bounds.
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.4, 0.5, 1, 2.5, 5, 10),
)
HTTP_IN_FLIGHT = Gauge(
    "sichrplace_http_requests_in_flight",
    "HTTP requests this process has started and not yet answered (admitted or waiting).",
)

# Methods a client may send are free text to the server: anything else is counted as OTHER,
# so a scanner's made-up verbs cannot add series.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"

router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


API_PREFIX = "/api/v1"


def route_template(scope: Scope) -> str:
    """The matched route's template, e.g. /api/v1/listings/{listing_id}.

    Routers included under a prefix keep their own path on the route object, so the prefix is
    put back from the request path.
    """
    path = str(getattr(scope.get("route"), "path", "") or "")
    if not path:
        return UNMATCHED
    request_path = str(scope["path"])
    if request_path.startswith(API_PREFIX + "/") and not path.startswith(API_PREFIX + "/"):
        return API_PREFIX + path
    return path


_Children = tuple[Counter, Histogram]


class MetricsMiddleware:
    """Count and time every request under its route template (not the raw path: bounded labels).

    The labelled children are kept per (method, route, status): `.labels()` takes a lock and
    builds a key each time, a dict lookup here does not (the cached search path answers
    thousands of requests a second). The dict is bounded like the labels themselves.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._children: dict[tuple[str, str, int], _Children] = {}

    def _observe(self, method: str, template: str, status: int, seconds: float) -> None:
        key = (method, template, status)
        children = self._children.get(key)
        if children is None:
            if method not in KNOWN_METHODS:
                method = "OTHER"
            children = (
                HTTP_REQUESTS.labels(method, template, str(status)),
                HTTP_LATENCY.labels(method, template),
            )
            # Unknown methods share one entry per (route, status) instead of one each.
            if key[0] in KNOWN_METHODS:
                self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        HTTP_IN_FLIGHT.inc()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            HTTP_IN_FLIGHT.dec()
            self._observe(
                scope["method"], route_template(scope), status, time.perf_counter() - started
            )
