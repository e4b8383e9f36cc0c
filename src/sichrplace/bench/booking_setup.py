"""The booking benchmark's cast and its audit, on the primary (not timed).

Landlords and tenants are users `booking-<role>-NNNN@bench.sichrplace.invalid`, kept between
runs (tokens are signed afresh for each run, as `tests/helpers/members.py` does); the
landlords' listings are made through the API once and kept too. Slots are inserted for each
run, back to back from tomorrow on, and retired (soft-deleted, as the API deletes them)
after it, so the next run can use the same hours; bookings and payments stay: they are money
records, and the reconciliation job compares them with the provider.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import psycopg

from sichrplace.accounts.security import build_auth_runtime
from sichrplace.config import Settings
from sichrplace.payments.vocabulary import PAID_STATUSES, LedgerKind, sql_list
from sichrplace.viewings.vocabulary import LIVE_STATUSES

BENCH_DOMAIN = "bench.sichrplace.invalid"
SLOT_MINUTES = 15
FIRST_SLOT_AFTER = timedelta(days=1)
# A session older than this is not reused for tokens (the API ends sessions after 60 days).
SESSION_REUSE = timedelta(days=1)
LIVE_VIEWINGS_SQL = sql_list([s.value for s in LIVE_STATUSES])
PAID_SQL = sql_list([s.value for s in PAID_STATUSES])


@dataclass(frozen=True, slots=True)
class Member:
    id: uuid.UUID
    email: str
    role: str
    session_id: uuid.UUID


@dataclass(frozen=True)
class Cast:
    landlords: list[Member]
    tenants: list[Member]
    listings: list[uuid.UUID]


def member_email(role: str, number: int, prefix: str = "booking") -> str:
    return f"{prefix}-{role}-{number:04d}@{BENCH_DOMAIN}"


def ensure_members(
    conn: psycopg.Connection, role: str, count: int, password_hash: str, prefix: str = "booking"
) -> list[Member]:
    """`count` bench users of `role` (made when missing), each with a live session; `prefix`
    keeps each benchmark's users apart."""
    emails = [member_email(role, i, prefix) for i in range(count)]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO users (id, email, password_hash, full_name, role, email_verified_at) "
            "VALUES (%s, %s, %s, %s, %s, now()) ON CONFLICT (email) DO NOTHING",
            [
                (uuid.uuid4(), email, password_hash, f"Bench {role} {i + 1}", role)
                for i, email in enumerate(emails)
            ],
        )
    rows = conn.execute(
        "SELECT id, email::text FROM users WHERE email = ANY(%s::citext[]) ORDER BY email",
        [emails],
    ).fetchall()
    ids = [r[0] for r in rows]
    sessions = dict(
        conn.execute(
            "SELECT DISTINCT ON (user_id) user_id, id FROM refresh_token_families "
            "WHERE user_id = ANY(%s) AND revoked_at IS NULL AND created_at > now() - %s "
            "ORDER BY user_id, created_at DESC",
            [ids, SESSION_REUSE],
        ).fetchall()
    )
    missing = [(uuid.uuid4(), user_id) for user_id in ids if user_id not in sessions]
    if missing:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO refresh_token_families (id, user_id) VALUES (%s, %s)", missing
            )
        sessions.update({user_id: family for family, user_id in missing})
    conn.commit()
    return [Member(r[0], r[1], role, sessions[r[0]]) for r in rows]


def bearer_headers(settings: Settings, members: Sequence[Member], now: datetime) -> list[str]:
    """A freshly signed access token per member, as its Authorization header value."""
    tokens = build_auth_runtime(settings).access_tokens
    return [
        "Bearer "
        + tokens.issue(user_id=m.id, email=m.email, role=m.role, session_id=m.session_id, now=now)
        for m in members
    ]


def listing_body(number: int) -> dict[str, Any]:
    """A plausible Berlin flat; the title carries the bench tag."""
    return {
        "title": f"Benchmark-Wohnung {number + 1}: helle 2 Zimmer mit Balkon",
        "description": "Angelegt von sichrplace bench booking.",
        "street": "Karl-Marx-Allee",
        "house_number": str(1 + number % 150),
        "postal_code": "10243",
        "city": "Berlin",
        "latitude": 52.5163,
        "longitude": 13.4376,
        "cold_rent_cents": 80_000,
        "utilities_cents": 20_000,
        "deposit_cents": 240_000,
        "rooms": 2,
        "size_sqm": 60.0,
        "amenities": ["balcony"],
    }


def ensure_listings(
    conn: psycopg.Connection,
    base_url: str,
    landlords: Sequence[Member],
    headers: Sequence[str],
    per_landlord: int,
) -> list[uuid.UUID]:
    """`per_landlord` active listings of each landlord; missing ones are made through the API."""
    ids = [m.id for m in landlords]
    have: dict[uuid.UUID, list[uuid.UUID]] = {m.id: [] for m in landlords}
    for owner, listing in conn.execute(
        "SELECT owner_id, id FROM listings WHERE owner_id = ANY(%s) AND status = 'active' "
        "ORDER BY created_at, id",
        [ids],
    ).fetchall():
        have[owner].append(listing)
    conn.rollback()
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        for number, (member, auth) in enumerate(zip(landlords, headers, strict=True)):
            while len(have[member.id]) < per_landlord:
                body = listing_body(number * per_landlord + len(have[member.id]))
                r = client.post("/api/v1/listings", json=body, headers={"Authorization": auth})
                if r.status_code != 201:
                    raise RuntimeError(f"creating a bench listing: {r.status_code} {r.text}")
                have[member.id].append(uuid.UUID(r.json()["id"]))
    return [listing for m in landlords for listing in have[m.id][:per_landlord]]


def ceil_to(moment: datetime, minutes: int) -> datetime:
    step = minutes * 60
    seconds = moment.timestamp()
    return datetime.fromtimestamp(-(-seconds // step) * step, moment.tzinfo)


SlotPlan = list[tuple[uuid.UUID, uuid.UUID, datetime, datetime]]


def slot_plan(
    listings: Sequence[uuid.UUID],
    latest_end: Mapping[uuid.UUID, datetime | None],
    count: int,
    *,
    now: datetime,
    minutes: int = SLOT_MINUTES,
    horizon: timedelta,
) -> SlotPlan:
    """`count` slots (id, listing, start, end), the i-th on listing i mod n, back to back on
    each listing from tomorrow or after its latest live slot; past `now + horizon` -> error."""
    if not listings:
        raise ValueError("no listings to put slots on")
    first = ceil_to(now + FIRST_SLOT_AFTER, minutes)
    cursor = {
        listing: max(first, ceil_to(latest_end.get(listing) or first, minutes))
        for listing in listings
    }
    length = timedelta(minutes=minutes)
    plan: SlotPlan = []
    for i in range(count):
        listing = listings[i % len(listings)]
        start = cursor[listing]
        cursor[listing] = start + length
        plan.append((uuid.uuid4(), listing, start, start + length))
    latest = max(end for *_, end in plan) if plan else first
    if latest > now + horizon:
        raise RuntimeError(
            f"no room for {count} slots of {minutes} min on {len(listings)} listings within"
            f" {horizon.days} days (live bench slots left over by an interrupted run?)"
        )
    return plan


def add_slots(
    conn: psycopg.Connection,
    listings: Sequence[uuid.UUID],
    count: int,
    *,
    now: datetime,
    horizon: timedelta,
) -> list[uuid.UUID]:
    """Insert `count` fresh slots on the listings; their ids in race order."""
    latest: dict[uuid.UUID, datetime | None] = dict(
        conn.execute(
            "SELECT l.id, max(s.ends_at) FROM unnest(%s::uuid[]) AS l(id) "
            "LEFT JOIN viewing_slots s ON s.listing_id = l.id AND s.deleted_at IS NULL "
            "GROUP BY l.id",
            [list(listings)],
        ).fetchall()
    )
    plan = slot_plan(listings, latest, count, now=now, horizon=horizon)
    conn.execute(
        "INSERT INTO viewing_slots (id, listing_id, starts_at, ends_at) "
        "SELECT * FROM unnest(%s::uuid[], %s::uuid[], %s::timestamptz[], %s::timestamptz[])",
        [[row[i] for row in plan] for i in range(4)],
    )
    conn.commit()
    return [slot_id for slot_id, *_ in plan]


def retire_slots(conn: psycopg.Connection, slot_ids: Sequence[uuid.UUID]) -> int:
    """Soft-delete the run's slots (their bookings stay) so their hours are free again."""
    done = conn.execute(
        "UPDATE viewing_slots SET deleted_at = now() WHERE id = ANY(%s) AND deleted_at IS NULL",
        [list(slot_ids)],
    ).rowcount
    conn.commit()
    return done


def applied_events(conn: psycopg.Connection, refs: Sequence[str]) -> int:
    """Verified Stripe events applied for these payments (the bench's and the provider's)."""
    row = conn.execute(
        "SELECT count(*) FROM payment_events WHERE provider = 'stripe' "
        "AND provider_ref = ANY(%s) AND applied_at IS NOT NULL",
        [list(refs)],
    ).fetchone()
    conn.rollback()
    return int(row[0]) if row else 0


def queued_jobs(conn: psycopg.Connection, queues: Sequence[str]) -> int:
    """Jobs of these queues due now and not finished (the emails a phase left to send)."""
    row = conn.execute(
        "SELECT count(*) FROM procrastinate_jobs WHERE queue_name = ANY(%s) "
        "AND status IN ('todo', 'doing') AND (scheduled_at IS NULL OR scheduled_at <= now())",
        [list(queues)],
    ).fetchone()
    conn.rollback()
    return int(row[0]) if row else 0


# Per viewing of the CTE `v`: its paid payments, its ledger charges and what they sum to.
CHARGES_PER_VIEWING_SQL = f"""
    SELECT v.id,
        (SELECT count(*) FROM payments p WHERE p.purpose = 'viewing_fee'
            AND p.reference_id = v.id AND p.status IN ({PAID_SQL})) AS paid,
        (SELECT count(*) FROM ledger_entries l JOIN payments p ON p.id = l.payment_id
            WHERE p.purpose = 'viewing_fee' AND p.reference_id = v.id
            AND l.kind = '{LedgerKind.CHARGE.value}') AS charges,
        (SELECT coalesce(sum(l.amount_cents), 0) FROM ledger_entries l
            JOIN payments p ON p.id = l.payment_id
            WHERE p.purpose = 'viewing_fee' AND p.reference_id = v.id
            AND l.kind = '{LedgerKind.CHARGE.value}') AS charged
    FROM v
"""  # noqa: S608
# The domains' fixed status words are written in; every value is bound.
AUDIT_SQL = f"""
WITH v AS (
    SELECT id, slot_id, status FROM viewings WHERE slot_id = ANY(%(slots)s)
), per_slot AS (
    SELECT slot_id, count(*) AS live FROM v WHERE status IN ({LIVE_VIEWINGS_SQL})
    GROUP BY slot_id
), per_viewing AS ({CHARGES_PER_VIEWING_SQL})
SELECT
    (SELECT count(*) FROM v) AS bookings,
    (SELECT count(*) FROM v WHERE status = 'confirmed') AS confirmed,
    (SELECT count(*) FROM per_slot WHERE live > 1) AS double_bookings,
    (SELECT count(*) FROM per_viewing
        WHERE paid > 1 OR charges > 1 OR charged > %(fee)s) AS double_charges,
    (SELECT coalesce(sum(charges), 0) FROM per_viewing) AS charges,
    (SELECT coalesce(sum(charged), 0) FROM per_viewing) AS charged_cents
"""  # noqa: S608


def audit(
    conn: psycopg.Connection, slot_ids: Sequence[uuid.UUID], fee_cents: int
) -> dict[str, int]:
    """What the database holds for the run's slots: bookings, confirmed ones, slots with more
    than one live booking, viewings charged more than once (a second paid payment, a second
    ledger charge, or more than the fee), and the ledger's charges."""
    cur = conn.execute(AUDIT_SQL, {"slots": list(slot_ids), "fee": fee_cents})
    row = cur.fetchone()
    names = [d.name for d in cur.description or []]
    conn.rollback()
    assert row is not None
    return {name: int(value) for name, value in zip(names, row, strict=True)}
