"""Search fixtures: a landlord, listings written straight into the real `listings` table (one
unique city per test, so parallel tests and seeded data never mix in), and a wait until the
replica has replayed them (search reads from the replica)."""

from __future__ import annotations

import asyncio
import math
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import insert, text

from sichrplace.config import FacetIndexSettings, Settings
from sichrplace.listings.fulltext import derived_columns
from sichrplace.listings.models import Listing
from sichrplace.listings.vocabulary import AMENITIES, ENERGY_CLASSES
from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from sichrplace.platform.parts import Parts
from sichrplace.search.backends.postgres import PostgresBackend
from sichrplace.search.index.keeper import FacetIndex
from sichrplace.search.parts import SEARCH as SEARCH_PARTS
from tests.helpers.members import create_member

API = "/api/v1"
SEARCH = f"{API}/search/listings"
FACETS = f"{API}/search/facets"
BYPASS = {"X-Cache-Bypass": "1"}
EARTH_RADIUS_M = 6_371_008.8


@dataclass
class Flat:
    """What a test knows about one listing it wrote."""

    id: uuid.UUID
    city: str
    postal_code: str
    lat: float | None
    lng: float | None
    cold: int
    utilities: int
    rooms: Decimal
    size: Decimal
    furnished: bool
    pets: bool
    available_from: date | None
    amenities: list[str]
    energy_class: str | None = None
    wbs_required: bool = False
    status: str = "active"
    title: str = "Wohnung"
    description: str = "Eine Wohnung."
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    district: str | None = None
    show_exact_address: bool = False

    @property
    def warm(self) -> int:
        return self.cold + self.utilities

    def row(self, owner_id: uuid.UUID) -> dict[str, Any]:
        """The row as the API writes it (keys and compound parts derived as it derives them)."""
        derived = derived_columns(
            {
                "title": self.title,
                "description": self.description,
                "city": self.city,
                "district": self.district,
            }
        )
        return {
            "id": self.id,
            "owner_id": owner_id,
            "title": self.title,
            "description": self.description,
            "street": "Teststraße",
            "house_number": "1",
            "postal_code": self.postal_code,
            "city": self.city,
            "district": self.district,
            **derived,
            "latitude": self.lat,
            "longitude": self.lng,
            "geocode_status": "ok" if self.lat is not None else "pending",
            "cold_rent_cents": self.cold,
            "utilities_cents": self.utilities,
            "deposit_cents": self.cold * 2,
            "rooms": self.rooms,
            "size_sqm": self.size,
            "furnished": self.furnished,
            "pets_allowed": self.pets,
            "available_from": self.available_from,
            "amenities": self.amenities,
            "energy_class": self.energy_class,
            "wbs_required": self.wbs_required,
            "show_exact_address": self.show_exact_address,
            "status": self.status,
            "created_at": self.created_at,
            "updated_at": self.created_at,
        }


@dataclass
class Landlord:
    id: uuid.UUID
    headers: dict[str, str]


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def random_flats(
    city: str, n: int, *, seed: int, center: tuple[float, float] = (50.0, 8.0), spread_km: float = 8
) -> list[Flat]:
    """`n` varied listings around `center` (a few share rent, place or creation time: ties)."""
    rng = random.Random(seed)
    base = datetime.now(UTC) - timedelta(days=30)
    flats: list[Flat] = []
    for i in range(n):
        d = rng.random() * spread_km / 111.32
        a = rng.random() * 2 * math.pi
        lat = center[0] + d * math.cos(a)
        lng = center[1] + d * math.sin(a) / math.cos(math.radians(center[0]))
        if i % 9 == 1 and flats:  # same building as the previous one
            lat, lng = flats[-1].lat or lat, flats[-1].lng or lng
        cold = rng.choice((40_000, 55_000, 70_000, 70_000, 90_000, 120_000, 160_000, 230_000))
        created = base + timedelta(minutes=rng.randint(0, 40_000))
        if i % 7 == 3 and flats:  # created in the same instant as the previous one
            created = flats[-1].created_at
        flats.append(
            Flat(
                id=uuid.uuid4(),
                city=city,
                postal_code=rng.choice(("10115", "10117", "20095")),
                lat=round(lat, 6),
                lng=round(lng, 6),
                cold=cold,
                utilities=rng.choice((8_000, 15_000, 22_000)),
                rooms=Decimal(rng.choice(("1", "1.5", "2", "2.5", "3", "4", "5"))),
                size=Decimal(rng.choice(("28.50", "45", "62.25", "80", "95.5", "130"))),
                furnished=rng.random() < 0.3,
                pets=rng.random() < 0.4,
                available_from=date.today() + timedelta(days=rng.randint(-20, 90)),
                amenities=[a for a in AMENITIES if rng.random() < 0.3],  # as the API stores them
                energy_class=rng.choice((None, *ENERGY_CLASSES)),
                wbs_required=rng.random() < 0.2,
                status="active" if rng.random() < 0.85 else rng.choice(("reserved", "archived")),
                created_at=created,
            )
        )
    return flats


MakeLandlord = Callable[[], Awaitable[Landlord]]
Insert = Callable[[Sequence[Flat]], Awaitable[None]]


@pytest.fixture
def make_landlord(db: Database, settings: Settings) -> MakeLandlord:
    async def make() -> Landlord:
        return await create_member(db, settings, "landlord", label="search")

    return make


async def wait_for_replica(db: Database, timeout_s: float = 10.0) -> None:
    """Until the replica has replayed everything the primary wrote so far."""
    async with db.primary.connect() as conn:
        lsn = (await conn.execute(text("SELECT pg_current_wal_lsn()::text"))).scalar_one()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        async with db.replica.connect() as conn:
            done = (
                await conn.execute(
                    text("SELECT pg_last_wal_replay_lsn() >= CAST(:lsn AS pg_lsn)"), {"lsn": lsn}
                )
            ).scalar_one()
        if done:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the replica did not catch up")


async def wait_until_loaded(index: FacetIndex, timeout_s: float = 90.0) -> None:
    """Until the facet index has its first full load (it loads in the background)."""
    deadline = time.monotonic() + timeout_s
    while not index.ready:
        assert time.monotonic() < deadline, "the facet index did not load"
        await asyncio.sleep(0.1)


@pytest.fixture
async def own_index(db: Database) -> AsyncIterator[FacetIndex]:
    """An index of its own that counts every word (the app's counts only common ones), looks
    for changes after each count begins and reloads after 1,000 changes."""
    settings = FacetIndexSettings(min_word_share=0.0, max_changes=1000, max_staleness_seconds=0)
    index = FacetIndex(db, settings)
    index.start()
    await wait_until_loaded(index)
    yield index
    await index.aclose()


@pytest.fixture
async def landlord(make_landlord: MakeLandlord) -> Landlord:
    return await make_landlord()


@pytest.fixture
def insert_flats(db: Database, landlord: Landlord) -> Insert:
    async def write(flats: Sequence[Flat]) -> None:
        async with transaction(db) as session:
            await session.execute(insert(Listing), [f.row(landlord.id) for f in flats])
        await wait_for_replica(db)

    return write


@pytest.fixture(params=["index", "postgres"])
async def search_backend(request: pytest.FixtureRequest, parts: Parts) -> AsyncIterator[str]:
    """The app's search answered by each backend in turn (the same behaviour from both)."""
    search = parts.get(SEARCH_PARTS)
    if request.param == "postgres":
        postgres = PostgresBackend(search.plan_stats, None)
        parts.swap(SEARCH_PARTS, replace(search, backend=postgres))
    else:
        assert search.facet_index is not None
        await wait_until_loaded(search.facet_index)
    yield str(request.param)
    parts.swap(SEARCH_PARTS, search)


@pytest.fixture
def city(unique: str) -> str:
    return f"Suchstadt {unique}"
