"""The mixed load's cast and plan, made before Locust starts (not timed).

The people are bench users as the other benchmarks make them (`booking_setup.ensure_members`,
`@bench.sichrplace.invalid`, kept between runs; the Locust process signs their access tokens
itself, so a 30-minute soak outlives the tokens' 15 minutes):

- bookers and their landlords (prefix `mixed`): fresh slots for each run on the landlords'
  listings, retired after it; contracts are drawn up between the same landlords and bookers;
- the messaging benchmark's pairs, each with its conversation (`messaging_setup.ensure_cast`);
- members who log in with a password (`mixed-member-NNNN`).

What anonymous visitors ask for is drawn from the seeded set by `bench search`'s own mixes
(cities by their weight, the filters people combine, listings sampled from the table).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg

from sichrplace.accounts.security import Passwords
from sichrplace.bench import booking_setup as members
from sichrplace.bench import messaging_setup, scenarios
from sichrplace.bench.runner import UNCACHED_MIX
from sichrplace.config import Settings
from sichrplace.seeding.loader import unusable_password_hash

PREFIX = "mixed"
# The login members' password: bench users on a bench domain that cannot receive mail.
MEMBER_PASSWORD = "Mischlast-Benchmark-2026!"  # noqa: S105
SLOT_HORIZON = timedelta(days=700)
BROWSE_SAMPLE = 2000  # listings sampled for the detail pages


@dataclass(frozen=True)
class Person:
    id: str
    email: str
    role: str
    session_id: str


@dataclass
class Plan:
    """Everything the Locust process needs, as JSON (`to_file` / `from_file`)."""

    base_url: str
    fake_url: str
    acks_dir: str
    people: list[Person]
    search: list[str]
    facets: list[str]
    suggest: list[str]
    listings: list[str]
    popular: list[str]
    login_emails: list[str]
    login_password: str
    pairs: list[tuple[str, int, int]]  # (conversation, tenant, landlord): indexes into people
    bookers: list[int]
    slots: list[str]
    contracts: list[tuple[int, str, int]]  # (landlord, listing, tenant)
    users: dict[str, int] = field(default_factory=dict)  # Locust user class -> how many
    pace: dict[str, float] = field(default_factory=dict)  # user class -> its own pace

    def to_file(self, path: Path) -> None:
        path.write_bytes(orjson.dumps(asdict(self)))

    @classmethod
    def from_file(cls, path: Path) -> Plan:
        raw: dict[str, Any] = orjson.loads(path.read_bytes())
        raw["people"] = [Person(**p) for p in raw["people"]]
        raw["pairs"] = [tuple(p) for p in raw["pairs"]]
        raw["contracts"] = [tuple(c) for c in raw["contracts"]]
        return cls(**raw)


@dataclass(frozen=True)
class Cast:
    people: list[Person]
    pairs: list[tuple[str, int, int]]
    bookers: list[int]
    landlords: list[int]
    listings: list[uuid.UUID]  # the landlords' listings (slots go there)
    listing_owner: dict[uuid.UUID, int]
    login_emails: list[str]


def _people(found: Sequence[members.Member]) -> list[Person]:
    return [Person(str(m.id), m.email, m.role, str(m.session_id)) for m in found]


def ensure_cast(
    conn: psycopg.Connection,
    settings: Settings,
    base_url: str,
    *,
    bookers: int,
    landlords: int,
    pairs: int,
    logins: int,
) -> Cast:
    """The run's people (made when missing) and the listings their slots go on."""
    unusable = unusable_password_hash(settings)
    tenants = members.ensure_members(conn, "tenant", bookers, unusable, PREFIX)
    owners = members.ensure_members(conn, "landlord", landlords, unusable, PREFIX)
    now = datetime.now(UTC)
    owner_auth = members.bearer_headers(settings, owners, now)
    listings = members.ensure_listings(conn, base_url, owners, owner_auth, 2)
    login_hash = Passwords(settings.auth).hasher.hash(MEMBER_PASSWORD)
    logins_found = members.ensure_members(conn, "tenant", logins, login_hash, f"{PREFIX}-member")
    conn.commit()
    talk = messaging_setup.ensure_cast(
        conn, base_url, pairs, unusable, lambda who: members.bearer_headers(settings, who, now)
    )
    people = _people([*tenants, *owners, *talk.users])
    offset = len(tenants) + len(owners)
    return Cast(
        people=people,
        pairs=[(str(p.conversation), offset + p.tenant, offset + p.landlord) for p in talk.pairs],
        bookers=list(range(len(tenants))),
        landlords=list(range(len(tenants), offset)),
        listings=listings,
        listing_owner={listing: len(tenants) + i // 2 for i, listing in enumerate(listings)},
        login_emails=[m.email for m in logins_found],
    )


def browse_paths(settings: Settings) -> dict[str, list[str]]:
    """What visitors ask for, from `bench search`'s generators and a sample of the table."""
    with psycopg.connect(settings.db.direct_dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT id FROM listings TABLESAMPLE SYSTEM (1) WHERE status = 'active' LIMIT %s",
            [BROWSE_SAMPLE],
        ).fetchall()
        if len(rows) < 50:  # a small data set: one page of the table is a fair sample too
            rows = conn.execute(
                "SELECT id FROM listings WHERE status = 'active' LIMIT %s", [BROWSE_SAMPLE]
            ).fetchall()
    ids = [str(r[0]) for r in rows]
    paths = scenarios.paths
    return {
        "search": paths(scenarios.uncached_search(UNCACHED_MIX) + scenarios.popular_search()),
        "facets": paths(scenarios.uncached_facets(UNCACHED_MIX // 4) + scenarios.popular_facets()),
        "suggest": paths(scenarios.suggest(UNCACHED_MIX // 4)),
        "listings": paths(scenarios.listing_detail(ids)),
        "popular": [f"/api/v1/listings/popular?city={c}" for c in ("Berlin", "Hamburg", "München")],
    }


def add_run_slots(conn: psycopg.Connection, cast: Cast, count: int) -> list[str]:
    """Fresh slots for this run on the cast's listings (retired by `retire`)."""
    ids = members.add_slots(conn, cast.listings, count, now=datetime.now(UTC), horizon=SLOT_HORIZON)
    return [str(i) for i in ids]


def contract_plan(cast: Cast, count: int) -> list[tuple[int, str, int]]:
    """(landlord, listing, tenant) for the contract signers, spread over the cast."""
    out = []
    for i in range(count):
        listing = cast.listings[i % len(cast.listings)]
        tenant = cast.bookers[(i * 7) % len(cast.bookers)]
        out.append((cast.listing_owner[listing], str(listing), tenant))
    return out


def retire(conn: psycopg.Connection, slots: Sequence[str]) -> int:
    return members.retire_slots(conn, [uuid.UUID(s) for s in slots])
