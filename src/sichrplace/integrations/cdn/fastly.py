"""Fastly's purge by surrogate key (https://www.fastly.com/documentation/reference/api/purging/).

`POST {base}/service/{service_id}/purge` with `Surrogate-Key: key1 key2 …` (at most 256 keys
a request), `Fastly-Key: <API token>`, and `Fastly-Soft-Purge: 1` for a soft purge (objects
marked stale rather than deleted). Answers:
  200 -> JSON {"key1": "<purge id>", …}: purged;
  401 / 403 -> the token is wrong or may not purge this service: `PurgeRefused`, not retried
      (a configuration problem, logged as an error);
  429 -> rate limited, with `Retry-After`: retried after that (bounded), with backoff;
  5xx, timeouts, connection errors -> retried with exponential backoff, then
      `DependencyUnavailable`.
A purge is idempotent, so every failure that may be transient is retried. Each attempt goes
through `platform/resilience` (timeouts, the breaker, metrics, a client span); the retry loop
is this client's own because it honours Retry-After, which the generic retry does not.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Final

import httpx
import orjson
import structlog

from sichrplace.config import EdgeSettings, get_settings
from sichrplace.platform.resilience import (
    DependencyFailed,
    DependencyUnavailable,
    Policy,
    ResilientClient,
    Verdict,
)
from sichrplace.platform.secrets import SecretsProvider, provider_for

log = structlog.get_logger(__name__)

DEPENDENCY: Final = "fastly_purge"
TOKEN_NAME: Final = "SICHRPLACE_EDGE_FASTLY_API_TOKEN"  # noqa: S105 - a name, not a secret
# Only outside production (the fake checks its own token).
DEV_TOKEN: Final = "dev-fastly-token"  # noqa: S105 - development only
MAX_KEYS: Final = 256  # Fastly's limit per purge request
_BACKOFF_INITIAL: Final = 0.1
_BACKOFF_MAX: Final = 2.0


class PurgeRefused(Exception):
    """Fastly refused the purge (401/403, or another 4xx): retrying cannot help."""

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        super().__init__(f"fastly refused the purge: HTTP {status} {detail}")


def classify(response: httpx.Response) -> Verdict:
    if response.status_code == 429 or response.status_code >= 500:
        return "retry"
    if response.status_code >= 400:
        return "client_error"
    return "success"


def policy_from(settings: EdgeSettings) -> Policy:
    # One attempt per call of the resilient client: the retries are `FastlyPurger._send`'s.
    return Policy(
        timeout=settings.fastly_timeout_seconds,
        connect_timeout=settings.fastly_connect_timeout_seconds,
        max_attempts=1,
        failure_threshold=settings.fastly_breaker_failure_threshold,
        reset_timeout=settings.fastly_breaker_reset_seconds,
    )


def _backoff(attempt: int) -> float:
    """Exponential with jitter: 0.1, 0.2, 0.4 … s (at most 2 s), plus up to 10 %."""
    delay: float = min(_BACKOFF_MAX, _BACKOFF_INITIAL * 2.0 ** (attempt - 1))
    return delay * (1 + random.random() / 10)


class FastlyPurger:
    """Implements platform/edge's `Purger` against Fastly's purge API."""

    name = "fastly"

    def __init__(
        self,
        settings: EdgeSettings,
        *,
        dependency: str = DEPENDENCY,
        transport: httpx.AsyncBaseTransport | None = None,
        secrets: SecretsProvider | None = None,
    ) -> None:
        if not settings.fastly_service_id:
            raise ValueError("SICHRPLACE_EDGE_FASTLY_SERVICE_ID is required for the Fastly purger")
        self.settings = settings
        secrets = secrets or provider_for(get_settings())
        token = secrets.get(
            TOKEN_NAME,
            value=settings.fastly_api_token,
            file=settings.fastly_api_token_file,
            default=DEV_TOKEN,
            min_length=20,  # Fastly's API tokens are 32 characters
        ).reveal()
        headers = {"Fastly-Key": token, "Accept": "application/json"}
        if settings.fastly_soft_purge:
            headers["Fastly-Soft-Purge"] = "1"
        self.client = ResilientClient(
            dependency,
            policy=policy_from(settings),
            base_url=settings.fastly_base_url.rstrip("/"),
            headers=headers,
            transport=transport,
        )
        self._path = f"/service/{settings.fastly_service_id}/purge"

    async def aclose(self) -> None:
        await self.client.aclose()

    async def purge(self, keys: Sequence[str]) -> None:
        await self.purge_ids(keys)

    async def purge_ids(self, keys: Sequence[str]) -> dict[str, str]:
        """Purge `keys` (in requests of at most 256); Fastly's purge id per key."""
        ids: dict[str, str] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), MAX_KEYS):
            ids.update(await self._send(unique[start : start + MAX_KEYS]))
        return ids

    async def _send(self, keys: list[str]) -> dict[str, str]:
        attempts = self.settings.fastly_max_attempts
        for attempt in range(1, attempts + 1):
            try:
                response = await self.client.post(
                    self._path,
                    headers={"Surrogate-Key": " ".join(keys)},
                    idempotent=True,
                    classify=classify,
                )
            except DependencyUnavailable as exc:
                if not exc.retryable or attempt == attempts:
                    raise
                await asyncio.sleep(self._delay(exc, attempt))
                continue
            return self._purged(response)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _delay(self, exc: DependencyUnavailable, attempt: int) -> float:
        delay = _backoff(attempt)
        if isinstance(exc, DependencyFailed) and exc.retry_after is not None:
            # Rate limited: as long as Fastly asks, within our bound (the purge is waited
            # for by nobody, but a long sleep would hold it past the next change).
            delay = max(delay, min(exc.retry_after, self.settings.fastly_max_retry_after_seconds))
        return delay

    def _purged(self, response: httpx.Response) -> dict[str, str]:
        if response.status_code >= 400:
            detail = response.text[:200]
            log.error("fastly_purge_refused", status=response.status_code, detail=detail)
            raise PurgeRefused(response.status_code, detail)
        try:
            body = orjson.loads(response.content) if response.content else {}
        except orjson.JSONDecodeError:
            body = {}
        if not isinstance(body, dict):
            return {}
        return {str(k): str(v) for k, v in body.items()}


__all__ = ["DEPENDENCY", "MAX_KEYS", "FastlyPurger", "PurgeRefused", "classify"]
