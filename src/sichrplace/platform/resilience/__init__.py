"""Outbound-call resilience: timeouts, idempotent-only retries, breaker, quota, metrics."""

from sichrplace.platform.resilience.breaker import BreakerState, CircuitBreaker, get_breaker
from sichrplace.platform.resilience.client import (
    Classifier,
    Policy,
    ResilientClient,
    Verdict,
    default_classifier,
)
from sichrplace.platform.resilience.errors import (
    CircuitOpen,
    DependencyFailed,
    DependencyTimeout,
    DependencyTransportError,
    DependencyUnavailable,
    QuotaExceeded,
)
from sichrplace.platform.resilience.quota import RedisQuota

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpen",
    "Classifier",
    "DependencyFailed",
    "DependencyTimeout",
    "DependencyTransportError",
    "DependencyUnavailable",
    "Policy",
    "QuotaExceeded",
    "RedisQuota",
    "ResilientClient",
    "Verdict",
    "default_classifier",
    "get_breaker",
]
