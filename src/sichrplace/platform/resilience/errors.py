"""Why an outbound call did not produce a usable response."""

from __future__ import annotations

import httpx


class DependencyUnavailable(Exception):
    """The dependency cannot answer now; callers degrade or retry later (e.g. from a job)."""

    reason: str = "unavailable"

    def __init__(
        self,
        dependency: str,
        detail: str = "",
        *,
        response: httpx.Response | None = None,
        retry_after: float | None = None,
        retryable: bool = False,
        request_sent: bool = True,
    ) -> None:
        self.dependency = dependency
        # retryable: a transient failure worth another attempt (if the request is idempotent,
        # or it never left this process: request_sent False).
        self.retryable = retryable
        self.request_sent = request_sent
        self.detail = detail
        self.response = response
        self.retry_after = retry_after
        super().__init__(f"{dependency}: {self.reason}" + (f" ({detail})" if detail else ""))


class CircuitOpen(DependencyUnavailable):
    """The breaker is open: the call was not attempted."""

    reason = "circuit_open"


class QuotaExceeded(DependencyUnavailable):
    """Our own request budget for the dependency is spent for this window: not attempted."""

    reason = "quota_exceeded"


class DependencyTimeout(DependencyUnavailable):
    reason = "timeout"


class DependencyTransportError(DependencyUnavailable):
    """Connection refused/reset, DNS, protocol errors."""

    reason = "transport_error"


class DependencyFailed(DependencyUnavailable):
    """The dependency answered with a failure (5xx, 429, or one the caller's classifier saw)."""

    reason = "failed"
