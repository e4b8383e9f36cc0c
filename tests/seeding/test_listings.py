"""The demo-data generator: deterministic, realistic, and accepted by the real table via COPY
(every CHECK holds; Postgres computes warm rent, location and the full-text vector)."""

from __future__ import annotations

import statistics
import uuid
from collections import Counter
from datetime import UTC, datetime

import psycopg

from sichrplace.config import Settings
from sichrplace.listings.vocabulary import AMENITIES, ENERGY_CLASSES
from sichrplace.seeding.listings import CITIES, SEED_COLUMNS, SEED_PG_TYPES, generate_listings
from tests.listings.conftest import MakeUser

NOW = datetime(2026, 11, 1, tzinfo=UTC)
OWNERS = [uuid.UUID(int=i, version=4) for i in range(1, 6)]


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    a = list(generate_listings(300, owner_ids=OWNERS, seed=7, now=NOW))
    assert a == list(generate_listings(300, owner_ids=OWNERS, seed=7, now=NOW))
    assert a != list(generate_listings(300, owner_ids=OWNERS, seed=8, now=NOW))
    assert len({row[0] for row in a}) == 300


def test_rows_follow_the_rules_and_look_german() -> None:
    rows = [
        dict(zip(SEED_COLUMNS, r, strict=True))
        for r in generate_listings(20_000, owner_ids=OWNERS, seed=1, now=NOW)
    ]
    cities = Counter(r["city"] for r in rows)
    assert cities.most_common(1)[0][0] == "Berlin"
    assert cities["Berlin"] > 10 * cities["Göttingen"] > 0  # skewed, with a long tail
    for r in rows:
        assert r["deposit_cents"] <= 3 * r["cold_rent_cents"]
        assert len(r["postal_code"]) == 5
        assert r["postal_code"].isdigit()
        assert (r["rooms"] * 2).is_integer()
        assert 1 <= r["rooms"] <= 20
        assert set(r["amenities"]) <= set(AMENITIES)
        assert r["energy_class"] in (*ENERGY_CLASSES, None)
        assert r["owner_id"] in OWNERS
        assert r["created_at"] <= r["updated_at"] <= NOW
    centres = {c[0]: (c[2], c[3]) for c in CITIES}
    for r in rows[:2000]:
        lat, lng = centres[r["city"]]
        assert abs(r["latitude"] - lat) < 0.15
        assert abs(r["longitude"] - lng) < 0.25
    per_sqm = {
        city: statistics.median(
            r["cold_rent_cents"] / 100 / r["size_sqm"] for r in rows if r["city"] == city
        )
        for city in ("München", "Berlin", "Leipzig")
    }
    assert per_sqm["München"] > per_sqm["Berlin"] > per_sqm["Leipzig"] > 6
    balcony = [r for r in rows if "balcony" in r["amenities"]]
    assert all("Balkon" in r["description"] for r in balcony)
    assert any("Balkon" in r["title"] for r in balcony)


async def test_rows_copy_into_the_real_table(
    settings: Settings, make_user: MakeUser, unique: str
) -> None:
    owner = await make_user("landlord")
    city = f"Seedtest {unique}"
    rows = []
    for row in generate_listings(300, owner_ids=[owner.id], seed=int(unique, 16), now=NOW):
        values = dict(zip(SEED_COLUMNS, row, strict=True))
        # Keep these rows out of everyone's searches: own city, archived.
        values.update(city=city, city_key=city.lower(), status="archived")
        rows.append(tuple(values[c] for c in SEED_COLUMNS))
    conn = await psycopg.AsyncConnection.connect(settings.db.direct_dsn)
    async with conn, conn.cursor() as cur:
        async with cur.copy(f"COPY listings ({', '.join(SEED_COLUMNS)}) FROM STDIN") as copy:
            copy.set_types(list(SEED_PG_TYPES))
            for row in rows:
                await copy.write_row(row)
        await cur.execute(
            "SELECT count(*), bool_and(warm_rent_cents = cold_rent_cents + utilities_cents),"
            " bool_and(location IS NOT NULL),"
            " bool_and(search_tsv @@ to_tsquery('german', 'Wohnung'))"
            " FROM listings WHERE city_key = %s",
            (city.lower(),),
        )
        assert await cur.fetchone() == (300, True, True, True)
