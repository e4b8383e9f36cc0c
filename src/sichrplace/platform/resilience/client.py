"""`ResilientClient`: the one way to make an outbound HTTP call.

Each attempt: breaker -> quota -> httpx (connect/read timeouts) -> classify the response ->
breaker verdict + metrics. Transient failures are retried with exponential backoff and
jitter, but only for idempotent requests (GET/HEAD/OPTIONS/PUT/DELETE, or a POST the caller
marks idempotent, e.g. one carrying an idempotency key) -- or when the request provably never
left this process (connect failed). Anything that cannot produce a usable answer raises a
`DependencyUnavailable` subclass; 4xx answers are returned for the caller to interpret.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import redis.asyncio as aioredis
import structlog
from opentelemetry.trace import SpanKind, Status, StatusCode
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base

from sichrplace.platform.observability import tracing
from sichrplace.platform.resilience.breaker import CircuitBreaker, get_breaker
from sichrplace.platform.resilience.errors import (
    CircuitOpen,
    DependencyFailed,
    DependencyTimeout,
    DependencyTransportError,
    DependencyUnavailable,
    QuotaExceeded,
)
from sichrplace.platform.resilience.metrics import (
    OUTBOUND_LATENCY,
    OUTBOUND_REQUESTS,
    OUTBOUND_RETRIES,
)
from sichrplace.platform.resilience.quota import RedisQuota

log = structlog.get_logger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

# success: healthy answer; client_error: the dependency is healthy but refused *this* request
# (returned to the caller); retry: transient failure; failure: failure not worth retrying now.
Verdict = Literal["success", "client_error", "retry", "failure"]
Classifier = Callable[[httpx.Response], Verdict]


def default_classifier(response: httpx.Response) -> Verdict:
    if response.status_code == 429 or response.status_code >= 500:
        return "retry"
    if response.status_code >= 400:
        return "client_error"
    return "success"


@dataclass(frozen=True)
class Policy:
    """How hard to try one dependency. Callers build it from their own settings class."""

    timeout: float = 5.0  # per attempt: read/write/pool
    connect_timeout: float = 2.0
    max_attempts: int = 3
    backoff_initial: float = 0.1
    backoff_max: float = 2.0
    backoff_jitter: float = 0.1
    deadline: float | None = None  # no new attempt would start after this many seconds
    failure_threshold: int = 5
    reset_timeout: float = 30.0
    quota_limit: int | None = None  # requests per window, shared through Redis; None = off
    quota_window_seconds: int = 60


def _should_retry(idempotent: bool) -> Callable[[BaseException], bool]:
    def predicate(exc: BaseException) -> bool:
        if not isinstance(exc, DependencyUnavailable) or not exc.retryable:
            return False
        return idempotent or not exc.request_sent

    return predicate


class ResilientClient:
    def __init__(
        self,
        dependency: str,
        *,
        policy: Policy | None = None,
        base_url: str = "",
        redis: aioredis.Redis | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.dependency = dependency
        self.policy = policy = policy or Policy()
        self.http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(policy.timeout, connect=policy.connect_timeout),
            headers=dict(headers or {}),
            transport=transport,
            follow_redirects=False,
        )
        self.breaker = breaker or get_breaker(
            dependency,
            failure_threshold=policy.failure_threshold,
            reset_timeout=policy.reset_timeout,
        )
        self.quota = RedisQuota(
            redis,
            dependency,
            limit=policy.quota_limit,
            window_seconds=policy.quota_window_seconds,
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", url, **kwargs)

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
        idempotent: bool | None = None,
        classify: Classifier = default_classifier,
    ) -> httpx.Response:
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        p = self.policy
        stop: stop_base = stop_after_attempt(max(1, p.max_attempts))
        if p.deadline is not None:
            stop = stop | stop_before_delay(p.deadline)
        retrying = AsyncRetrying(
            stop=stop,
            wait=wait_exponential_jitter(
                multiplier=p.backoff_initial, max=p.backoff_max, jitter=p.backoff_jitter
            ),
            retry=retry_if_exception(_should_retry(idempotent)),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    OUTBOUND_RETRIES.labels(self.dependency).inc()
                request = self.http.build_request(
                    method, url, params=params, headers=headers, json=json, content=content
                )
                return await self._traced_attempt(request, classify)
        raise AssertionError("unreachable: tenacity reraises the last error")

    async def _traced_attempt(self, request: httpx.Request, classify: Classifier) -> httpx.Response:
        """One attempt in a client span; the dependency gets our W3C trace context. The span
        shows the URL without its query (API keys travel there)."""
        with tracing.span(
            f"{request.method} {self.dependency}",
            {
                "peer.service": self.dependency,
                "http.request.method": request.method,
                "url.path": request.url.path,
                "server.address": request.url.host,
            },
            kind=SpanKind.CLIENT,
        ) as current:
            request.headers.update(tracing.carrier())
            try:
                response = await self._attempt(request, classify)
            except DependencyFailed as exc:
                if exc.response is not None and current.is_recording():
                    current.set_attribute("http.response.status_code", exc.response.status_code)
                raise
            if current.is_recording():
                current.set_attribute("http.response.status_code", response.status_code)
                if response.status_code >= 500:
                    current.set_status(Status(StatusCode.ERROR, f"HTTP {response.status_code}"))
            return response

    async def _attempt(self, request: httpx.Request, classify: Classifier) -> httpx.Response:
        dep = self.dependency
        try:
            self.breaker.acquire()
        except CircuitOpen:
            OUTBOUND_REQUESTS.labels(dep, "circuit_open").inc()
            raise
        try:
            await self.quota.acquire()
        except QuotaExceeded:
            self.breaker.release()
            OUTBOUND_REQUESTS.labels(dep, "quota_exceeded").inc()
            raise
        started = time.perf_counter()
        try:
            response = await self.http.send(request)
        except httpx.TimeoutException as exc:
            self._failed(started, "timeout")
            sent = not isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
            raise DependencyTimeout(
                dep, type(exc).__name__, retryable=True, request_sent=sent
            ) from exc
        except httpx.TransportError as exc:
            self._failed(started, "transport_error")
            sent = not isinstance(exc, httpx.ConnectError)
            raise DependencyTransportError(
                dep, type(exc).__name__, retryable=True, request_sent=sent
            ) from exc
        except BaseException:
            self.breaker.release()
            raise
        OUTBOUND_LATENCY.labels(dep).observe(time.perf_counter() - started)
        return self._judge(response, classify)

    def _failed(self, started: float, outcome: str) -> None:
        OUTBOUND_LATENCY.labels(self.dependency).observe(time.perf_counter() - started)
        OUTBOUND_REQUESTS.labels(self.dependency, outcome).inc()
        self.breaker.record_failure()

    def _judge(self, response: httpx.Response, classify: Classifier) -> httpx.Response:
        try:
            verdict = classify(response)
        except Exception:
            log.warning("outbound_unclassifiable_response", dependency=self.dependency)
            verdict = "failure"
        if verdict in ("success", "client_error"):
            # A refused request still proves the dependency is up.
            self.breaker.record_success()
            OUTBOUND_REQUESTS.labels(self.dependency, verdict).inc()
            return response
        self.breaker.record_failure()
        code = response.status_code
        outcome = "server_error" if code >= 500 else "failure"
        OUTBOUND_REQUESTS.labels(self.dependency, outcome).inc()
        raise DependencyFailed(
            self.dependency,
            f"HTTP {code}",
            response=response,
            retryable=verdict == "retry",
            retry_after=_retry_after(response),
        )


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None
