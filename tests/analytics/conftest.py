"""Analytics fixtures: users with tokens, a landlord's listings in a city of the test's own,
raw events written through the domain's writer at chosen times, and the rollup run."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text

from sichrplace.analytics import service
from sichrplace.analytics.records import RollupReport
from sichrplace.analytics.tasks import roll_up
from sichrplace.config import Settings
from sichrplace.kit.clock import utcnow
from sichrplace.platform import analytics
from sichrplace.platform.analytics import Batch, Journey, JourneyKind, Search, View
from sichrplace.platform.db.engines import Database
from tests.helpers.members import Member, create_member
from tests.listings.conftest import API, listing_body, replica_caught_up

MakeUser = Callable[[str], Awaitable[Member]]


@pytest.fixture
def make_user(db: Database, settings: Settings) -> MakeUser:
    async def make(role: str) -> Member:
        return await create_member(db, settings, role, label="ana")

    return make


def today() -> date:
    return utcnow().date()


def at(day: date, hour: int = 12, minute: int = 0) -> float:
    """Epoch seconds of a time on a UTC day (what the buffer records)."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC).timestamp()


@dataclass(frozen=True)
class Place:
    """A landlord's listings in a city no other test uses."""

    landlord: Member
    city: str
    city_key: str
    listings: list[uuid.UUID]


async def make_place(
    client: httpx.AsyncClient, db: Database, landlord: Member, unique: str, n: int = 2
) -> Place:
    city = f"Zählstadt {unique}"
    ids: list[uuid.UUID] = []
    for i in range(n):
        r = await client.post(
            f"{API}/listings",
            json=listing_body(title=f"Wohnung {i + 1} zum Zählen", city=city),
            headers=landlord.headers,
        )
        assert r.status_code == 201, r.text
        ids.append(uuid.UUID(r.json()["id"]))
    async with db.primary.connect() as conn:
        key = (
            await conn.execute(text("SELECT city_key FROM listings WHERE id = :id"), {"id": ids[0]})
        ).scalar_one()
    return Place(landlord, city, str(key), ids)


def views(listing_id: uuid.UUID, day: date, n: int) -> list[View]:
    return [View(at(day, 8, i % 60), listing_id) for i in range(n)]


def journeys(kind: JourneyKind, listing_id: uuid.UUID, day: date, n: int) -> list[Journey]:
    return [Journey(at(day, 9, i % 60), kind, listing_id, uuid.uuid4()) for i in range(n)]


def searches(city_key: str | None, day: date, n: int) -> list[Search]:
    return [
        Search(at(day, 10, i % 60), city_key, ("city",), "newest", 7, 2.5, "miss", False)
        for i in range(n)
    ]


async def write(db: Database, batch: Batch) -> None:
    """Raw events as a flush writes them (the buffer's sink)."""
    await service.writer(db)(batch)


async def rollup(db: Database, first: date, last: date) -> RollupReport:
    return await roll_up(db, None, first, last)


async def flush_app() -> None:
    """What the app's request handlers recorded so far, written (the app's own buffer)."""
    buffer = analytics.current()
    assert buffer is not None, "the app installs its analytics buffer"
    await buffer.flush()


async def raw_count(db: Database, sql: str, **params: object) -> int:
    async with db.primary.connect() as conn:
        return int((await conn.execute(text(sql), params)).scalar_one())


async def settled(db: Database) -> None:
    await replica_caught_up(db)


def days_back(n: int) -> date:
    return today() - timedelta(days=n)
