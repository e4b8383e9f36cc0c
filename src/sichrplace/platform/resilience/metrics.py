"""Prometheus metrics of every outbound call (registered once, in the default registry)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# outcome: success | client_error | server_error | failure | timeout | transport_error |
#          circuit_open | quota_exceeded  (one sample per attempt, or per refused call)
OUTBOUND_REQUESTS = Counter(
    "sichrplace_outbound_requests",
    "Outbound HTTP requests by dependency and outcome.",
    ["dependency", "outcome"],
)
OUTBOUND_LATENCY = Histogram(
    "sichrplace_outbound_request_duration_seconds",
    "Latency of outbound HTTP attempts (refused calls are not observed).",
    ["dependency"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
OUTBOUND_RETRIES = Counter(
    "sichrplace_outbound_retries",
    "Outbound attempts that were retries of a failed attempt.",
    ["dependency"],
)
BREAKER_STATE = Gauge(
    "sichrplace_circuit_breaker_state",
    "Circuit breaker state per dependency: 0 closed, 1 half-open, 2 open.",
    ["dependency"],
)
QUOTA_STORE_ERRORS = Counter(
    "sichrplace_outbound_quota_store_errors",
    "Quota checks that failed open because Redis was unreachable.",
    ["dependency"],
)
