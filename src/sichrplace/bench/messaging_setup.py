"""The messaging benchmark's cast, made once and kept (not timed).

Pairs of a landlord and a tenant: users `messaging-landlord-NNNN` and `messaging-tenant-NNNN`
`@bench.sichrplace.invalid` (inserted on the primary with a session each, as `bench booking`
does: each phase signs fresh access tokens, so the login throttle never sees them), one
listing per landlord made through the API, and one conversation per pair, started through
the API by the tenant the first time. Users are numbered tenants first, then landlords: pair
i is tenant i and landlord pairs + i.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx
import orjson
import psycopg

from sichrplace.bench import booking_setup as members
from sichrplace.bench.client import Connection, ProtocolError
from sichrplace.bench.messaging_load import Pair

PREFIX = "messaging"


@dataclass(frozen=True)
class Cast:
    users: list[members.Member]  # tenants, then landlords
    pairs: list[Pair]


def ensure_cast(
    conn: psycopg.Connection,
    base_url: str,
    pairs: int,
    password_hash: str,
    auth_for: Callable[[Sequence[members.Member]], list[str]],
) -> Cast:
    """`pairs` landlord-tenant pairs, each with a listing and a conversation about it."""
    tenants = members.ensure_members(conn, "tenant", pairs, password_hash, PREFIX)
    landlords = members.ensure_members(conn, "landlord", pairs, password_hash, PREFIX)
    listings = members.ensure_listings(conn, base_url, landlords, auth_for(landlords), 1)
    found: dict[str, uuid.UUID] = dict(
        conn.execute(
            "SELECT tenant_id || ':' || listing_id, id FROM conversations "
            "WHERE tenant_id = ANY(%s)",
            [[t.id for t in tenants]],
        ).fetchall()
    )
    conn.rollback()
    tenant_auth = auth_for(tenants)
    out: list[Pair] = []
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        for i, (tenant, listing) in enumerate(zip(tenants, listings, strict=True)):
            conversation = found.get(f"{tenant.id}:{listing}")
            if conversation is None:
                r = client.post(
                    "/api/v1/conversations",
                    json={"listing_id": str(listing), "body": "Guten Tag, ist die Wohnung frei?"},
                    headers={"Authorization": tenant_auth[i]},
                )
                if r.status_code not in (200, 201):
                    raise RuntimeError(f"starting a bench conversation: {r.status_code} {r.text}")
                conversation = uuid.UUID(r.json()["id"])
            out.append(Pair(conversation, tenant=i, landlord=pairs + i))
    return Cast([*tenants, *landlords], out)


def newest_messages(
    conn: psycopg.Connection, conversations: Sequence[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """Each conversation's newest message."""
    rows = conn.execute(
        "SELECT DISTINCT ON (conversation_id) conversation_id, id FROM messages "
        "WHERE conversation_id = ANY(%s) ORDER BY conversation_id, seq DESC",
        [list(conversations)],
    ).fetchall()
    conn.rollback()
    return {r[0]: r[1] for r in rows}


def last_seqs(conn: psycopg.Connection, users: Sequence[members.Member]) -> dict[uuid.UUID, int]:
    """Each user's newest event number (0 before the first), read on the primary."""
    rows: dict[uuid.UUID, int] = dict(
        conn.execute(
            "SELECT user_id, last_seq FROM user_event_counters WHERE user_id = ANY(%s)",
            [[u.id for u in users]],
        ).fetchall()
    )
    conn.rollback()
    return {u.id: int(rows.get(u.id, 0)) for u in users}


async def mark_all_read(
    base_url: str,
    cast: Cast,
    auth: Sequence[str],
    newest: dict[uuid.UUID, uuid.UUID],
    *,
    concurrency: int = 8,
) -> int:
    """Both participants read their conversation up to its newest message, through the API:
    the delayed unread-message emails of the run then find nothing to send. The answers
    other than 200."""
    jobs = [
        (pair.conversation, side)
        for pair in cast.pairs
        if pair.conversation in newest
        for side in (pair.tenant, pair.landlord)
    ]
    failures = 0

    async def loop(conn: Connection, share: list[tuple[uuid.UUID, int]]) -> None:
        nonlocal failures
        for conversation, user in share:
            body = orjson.dumps({"up_to_message_id": str(newest[conversation])})
            try:
                answer = await conn.request(
                    "POST",
                    f"/api/v1/conversations/{conversation}/read",
                    headers={"Authorization": auth[user], "Content-Type": "application/json"},
                    body=body,
                )
                failures += int(answer.status != 200)
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ProtocolError):
                failures += 1
        conn.close()

    await asyncio.gather(
        *(loop(Connection(base_url), jobs[i::concurrency]) for i in range(concurrency))
    )
    return failures
