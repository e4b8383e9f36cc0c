"""The demo data set: a few landlords and tenants with known passwords, ~3,000 listings."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from sichrplace.accounts.security import Passwords
from sichrplace.config import Settings
from sichrplace.seeding import loader


@dataclass(frozen=True)
class DemoUser:
    email: str
    full_name: str
    role: str
    password: str


# Known on purpose: this is demo data for local stacks (never seeded in production).
DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("anna.vermieterin@demo.sichrplace.de", "Anna Schmidt", "landlord", "Demo-Vermieter-1"),
    DemoUser("bernd.vermieter@demo.sichrplace.de", "Bernd Müller", "landlord", "Demo-Vermieter-2"),
    DemoUser("carla.vermieterin@demo.sichrplace.de", "Carla Weber", "landlord", "Demo-Vermieter-3"),
    DemoUser("david.mieter@demo.sichrplace.de", "David Fischer", "tenant", "Demo-Mieter-0001"),
    DemoUser("eva.mieterin@demo.sichrplace.de", "Eva Wagner", "tenant", "Demo-Mieter-0002"),
)


# The booking journey's two parties (`seeding.journey`): one login shows every viewing state.
JOURNEY_LANDLORD = "anna.vermieterin@demo.sichrplace.de"
JOURNEY_TENANT = "david.mieter@demo.sichrplace.de"


@dataclass
class DemoReport:
    users_created: int
    listings_created: int
    listings_total: int
    user_ids: dict[str, uuid.UUID]


def ensure_users(conn: psycopg.Connection, settings: Settings) -> tuple[dict[str, uuid.UUID], int]:
    """Create the demo users that are missing; returns email -> id for all, and how many new."""
    passwords = Passwords(settings.auth)
    now = datetime.now(UTC)
    ids: dict[str, uuid.UUID] = {}
    created = 0
    for user in DEMO_USERS:
        row = conn.execute("SELECT id FROM users WHERE email = %s", [user.email]).fetchone()
        if row is None:
            created += 1
            row = conn.execute(
                "INSERT INTO users (id, email, password_hash, full_name, role, email_verified_at) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (email) DO UPDATE SET email = "
                "EXCLUDED.email RETURNING id",
                [
                    uuid.uuid4(),
                    user.email,
                    passwords.hasher.hash(user.password),
                    user.full_name,
                    user.role,
                    now,
                ],
            ).fetchone()
        assert row is not None
        ids[user.email] = row[0]
    conn.commit()
    return ids, created


def seed_demo(settings: Settings, *, listings: int = 3000) -> DemoReport:
    dsn = settings.db.direct_dsn
    with psycopg.connect(dsn) as conn:
        conn.execute("SET statement_timeout = 0")
        ids, users_created = ensure_users(conn, settings)
        landlords = [ids[u.email] for u in DEMO_USERS if u.role == "landlord"]
        row = conn.execute(
            "SELECT count(*) FROM listings WHERE owner_id = ANY(%s)", [landlords]
        ).fetchone()
        have = int(row[0]) if row else 0
    created = loader.copy_listings(dsn, landlords, max(0, listings - have), workers=2)
    if created:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SET statement_timeout = 0")
            conn.execute("ANALYZE listings")
    return DemoReport(
        users_created=users_created,
        listings_created=created,
        listings_total=have + created,
        user_ids=ids,
    )
