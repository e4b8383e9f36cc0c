"""Idempotency-Key for POST requests, as Stripe documents it
(https://docs.stripe.com/api/idempotent_requests).

    store = parts.get(PAYMENTS).idempotency          # or IdempotencyStore()
    outcome = await store.run(
        session,                                      # the request's unit of work
        user_id=caller.id,
        key=request.headers.get("Idempotency-Key"),   # None: no key, just execute
        method="POST",
        path=request.url.path,
        body=body.model_dump(mode="json", exclude_unset=True),
        execute=create,                               # async () -> Stored(status, json body)
    )
    return JSONResponse(outcome.body, outcome.status, headers=outcome.headers)

What it guarantees, per (user, key), for 24 hours:
- the first request executes; its response (status and JSON body) is stored in the same
  transaction as what it wrote, and every later request with the key gets it back
  (`Idempotent-Replayed: true`), whatever happened meanwhile;
- the same key with another request (method, path or canonical JSON body differ) -> 422
  `idempotency-key-reused` naming the field `Idempotency-Key`;
- concurrent requests with one key execute once: the first inserts the key's row and holds
  it uncommitted while it works; the others' INSERT ... ON CONFLICT waits on that row inside
  Postgres (no polling) and, once the first commits, replays its response. If the first
  fails (a problem rolls its transaction back, key row included), nothing was stored, and
  one of the waiters executes instead: only completed responses are replayed;
- keys expire after `ttl` (24 h); an expired key is taken over by its next use, and the
  periodic job `payments.cleanup_idempotency_keys` deletes the rest.

A waiter holds a database connection while it waits, and the wait counts against the
statement timeout: the executing request must finish well within it (provider calls are
bounded by their own timeouts).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sichrplace.payments import repository, rules
from sichrplace.payments.errors import (
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    IdempotencyKeyUnfinished,
)
from sichrplace.platform.db.sessions import PrimarySession

REPLAYED_HEADER = "Idempotent-Replayed"
DEFAULT_TTL = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Stored:
    """A response as stored and replayed: its status and JSON body."""

    status: int
    body: Any


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int
    body: Any
    replayed: bool
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IdempotencyStore:
    ttl: timedelta = DEFAULT_TTL

    async def run(
        self,
        session: PrimarySession,
        *,
        user_id: uuid.UUID,
        key: str | None,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        execute: Callable[[], Awaitable[Stored]],
    ) -> Outcome:
        """Execute once per (user, key) and replay; see the module's text."""
        if key is None:
            first = await execute()
            return Outcome(first.status, first.body, replayed=False)
        if not rules.valid_key(key):
            raise IdempotencyKeyInvalid()
        fingerprint = rules.fingerprint(method, path, body)
        ttl = int(self.ttl.total_seconds())
        if await repository.claim_key(session, user_id, key, fingerprint, ttl_seconds=ttl):
            first = await execute()
            await repository.store_response(session, user_id, key, first.status, first.body)
            return Outcome(first.status, first.body, replayed=False)
        stored = await repository.stored_response(session, user_id, key)
        if stored is None:  # deleted by the cleanup between the two statements: a new key
            return await self.run(
                session,
                user_id=user_id,
                key=key,
                method=method,
                path=path,
                body=body,
                execute=execute,
            )
        seen_fingerprint, status, response = stored
        if seen_fingerprint != fingerprint:
            raise IdempotencyKeyReused()
        if status is None:  # only when the first request's problem committed its transaction
            raise IdempotencyKeyUnfinished()
        return Outcome(status, response, replayed=True, headers={REPLAYED_HEADER: "true"})

    async def cleanup(self, session: PrimarySession, *, batch: int = 10_000) -> int:
        """Delete one batch of expired keys; how many."""
        return await repository.delete_expired_keys(session, limit=batch)
