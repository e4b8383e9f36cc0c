"""A stored listing to vary in fast tests."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from sichrplace.listings.records import ListingRow
from sichrplace.listings.vocabulary import GeocodeStatus, ListingStatus

OWNER = uuid.UUID("0b6c1f52-35f4-4a8e-9d0e-6a2b8f1c3d4e")
LISTING = ListingRow(
    id=uuid.UUID("8f7d6c5b-4a39-4281-9706-f5e4d3c2b1a0"),
    owner_id=OWNER,
    title="Helle 3-Zimmer-Wohnung mit Balkon",
    description="Ruhige Lage, Einbauküche, Keller und Fahrradkeller.",
    street="Karl-Marx-Allee",
    house_number="12a",
    postal_code="10243",
    city="Berlin",
    city_key="berlin",
    latitude=52.5163,
    longitude=13.4376,
    geocode_status=GeocodeStatus.OK,
    cold_rent_cents=95_000,
    utilities_cents=22_000,
    warm_rent_cents=117_000,
    deposit_cents=285_000,
    rooms=3.0,
    size_sqm=78.5,
    furnished=False,
    pets_allowed=True,
    available_from=date(2027, 1, 1),
    amenities=("balcony", "fitted_kitchen", "cellar"),
    energy_class="B",
    wbs_required=False,
    show_exact_address=False,
    district="Friedrichshain",
    district_key="friedrichshain",
    search_extra="Einbau Küche Fahrrad Keller Friedrichs Hain",
    status=ListingStatus.ACTIVE,
    view_count=7,
    created_at=datetime(2026, 11, 28, 15, 4, 5, 123456, tzinfo=UTC),
    updated_at=datetime(2026, 11, 28, 15, 4, 5, tzinfo=UTC),
)


def listing(**changes: Any) -> ListingRow:
    return replace(LISTING, **changes)
