"""The demo landlord's five flats of the booking journey, one per viewing state.

Each has an id derived from its landlord and its key, so a rerun finds it again (and a test's
landlord gets flats of its own). They are written like the listings service writes a new
listing (validated by `ListingCreate`, the derived search columns, coordinates given so no
geocoding), through the listings repository with that fixed id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sichrplace.listings import repository as listings_repository
from sichrplace.listings.fulltext import derived_columns
from sichrplace.listings.records import ListingRow
from sichrplace.listings.schemas import ListingCreate
from sichrplace.listings.vocabulary import GeocodeStatus, ListingStatus
from sichrplace.platform.db.sessions import PrimarySession
from sichrplace.viewings.vocabulary import ViewingStatus

# uuid5 namespace of the journey's listing ids (any fixed UUID; this one is random).
NAMESPACE = uuid.UUID("5d0f7c1e-2b7a-4c39-9a51-0b6a7f3e8c24")


@dataclass(frozen=True, slots=True)
class JourneyFlat:
    state: ViewingStatus  # the demo viewing this flat carries
    fields: dict[str, Any]  # ListingCreate's fields, but `available_from`


FLATS: tuple[JourneyFlat, ...] = (
    JourneyFlat(
        ViewingStatus.COMPLETED,
        {
            "title": "Dachgeschosswohnung am Landwehrkanal mit Blick über Kreuzberg",
            "description": (
                "Helle 3-Zimmer-Wohnung im 5. Obergeschoss mit Aufzug, offener Küche und "
                "Dachfenstern. Eichenparkett, Bad mit Wanne, Kellerabteil. Der Kanal und der "
                "Wochenmarkt am Maybachufer liegen vor der Tür."
            ),
            "street": "Paul-Lincke-Ufer",
            "house_number": "20",
            "postal_code": "10999",
            "city": "Berlin",
            "district": "Kreuzberg",
            "latitude": 52.4953,
            "longitude": 13.4266,
            "cold_rent_cents": 135_000,
            "utilities_cents": 26_000,
            "deposit_cents": 405_000,
            "rooms": 3,
            "size_sqm": 82,
            "amenities": ["elevator", "bathtub", "cellar", "fitted_kitchen"],
            "energy_class": "C",
        },
    ),
    JourneyFlat(
        ViewingStatus.CONFIRMED,
        {
            "title": "Altbauwohnung mit Stuck und Dielen am Kollwitzplatz",
            "description": (
                "Charmante 2,5-Zimmer-Altbauwohnung mit hohen Decken, Stuck, Dielenböden und "
                "einem Balkon zum ruhigen Innenhof. Einbauküche, Tageslichtbad."
            ),
            "street": "Kollwitzstraße",
            "house_number": "52",
            "postal_code": "10405",
            "city": "Berlin",
            "district": "Prenzlauer Berg",
            "latitude": 52.5366,
            "longitude": 13.4175,
            "cold_rent_cents": 118_000,
            "utilities_cents": 24_000,
            "deposit_cents": 354_000,
            "rooms": 2.5,
            "size_sqm": 74,
            "amenities": ["balcony", "fitted_kitchen", "cellar"],
            "energy_class": "D",
        },
    ),
    JourneyFlat(
        ViewingStatus.PENDING_PAYMENT,
        {
            "title": "Ruhige 2-Zimmer-Wohnung mit Südbalkon in Ottensen",
            "description": (
                "Gut geschnittene Wohnung im 2. Obergeschoss eines gepflegten Rotklinkerbaus, "
                "Südbalkon, Einbauküche mit Spülmaschine, Fahrradkeller. Bahnhof Altona in "
                "zehn Minuten zu Fuß."
            ),
            "street": "Bahrenfelder Straße",
            "house_number": "120",
            "postal_code": "22765",
            "city": "Hamburg",
            "district": "Ottensen",
            "latitude": 53.5551,
            "longitude": 9.9252,
            "cold_rent_cents": 98_000,
            "utilities_cents": 21_000,
            "deposit_cents": 294_000,
            "rooms": 2,
            "size_sqm": 58,
            "pets_allowed": True,
            "amenities": ["balcony", "fitted_kitchen", "dishwasher", "bicycle_storage"],
            "energy_class": "C",
        },
    ),
    JourneyFlat(
        ViewingStatus.CANCELLED,
        {
            "title": "Möbliertes Apartment nahe dem Englischen Garten",
            "description": (
                "Vollständig möbliertes 1-Zimmer-Apartment mit Pantryküche, Waschmaschine und "
                "Aufzug. Ideal zum Einzug ohne eigene Möbel; U-Bahn Giselastraße um die Ecke."
            ),
            "street": "Hohenzollernstraße",
            "house_number": "28",
            "postal_code": "80801",
            "city": "München",
            "district": "Schwabing",
            "latitude": 48.1590,
            "longitude": 11.5800,
            "cold_rent_cents": 115_000,
            "utilities_cents": 18_000,
            "deposit_cents": 345_000,
            "rooms": 1,
            "size_sqm": 38,
            "furnished": True,
            "amenities": ["elevator", "washing_machine", "fitted_kitchen"],
            "energy_class": "B",
        },
    ),
    JourneyFlat(
        ViewingStatus.EXPIRED,
        {
            "title": "Loftwohnung im sanierten Fabrikgebäude in Plagwitz",
            "description": (
                "Großzügiges Loft mit 3,2 m Deckenhöhe, Industriefenstern und Fußbodenheizung "
                "in einer umgebauten Baumwollspinnerei. Stellplatz in der Tiefgarage möglich."
            ),
            "street": "Karl-Heine-Straße",
            "house_number": "85",
            "postal_code": "04229",
            "city": "Leipzig",
            "district": "Plagwitz",
            "latitude": 51.3300,
            "longitude": 12.3380,
            "cold_rent_cents": 72_000,
            "utilities_cents": 19_000,
            "deposit_cents": 216_000,
            "rooms": 3,
            "size_sqm": 88,
            "amenities": ["floor_heating", "parking", "storage_room"],
            "energy_class": "B",
        },
    ),
)


def flat_id(landlord_id: uuid.UUID, state: ViewingStatus) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{landlord_id}/{state.value}")


def _values(
    flat: JourneyFlat, landlord_id: uuid.UUID, city: str | None, today: date
) -> dict[str, Any]:
    """The row the listings service would write for this flat (but for the fixed id)."""
    fields = dict(flat.fields)
    if city is not None:
        fields["city"] = city
    # Free from the first of the month after next.
    month = today.month + 1
    fields["available_from"] = date(today.year + month // 12, month % 12 + 1, 1)
    sent = ListingCreate(**fields).model_dump()
    return {
        **sent,
        **derived_columns(sent),
        "id": flat_id(landlord_id, flat.state),
        "owner_id": landlord_id,
        "status": ListingStatus.ACTIVE,
        "geocode_status": GeocodeStatus.OK,
    }


async def ensure_flats(
    session: PrimarySession, landlord_id: uuid.UUID, *, city: str | None, today: date
) -> tuple[dict[ViewingStatus, ListingRow], int]:
    """The journey's flats by the state they carry (created where missing), and how many new.
    One a landlord changed since (say, archived) is kept as it is."""
    flats: dict[ViewingStatus, ListingRow] = {}
    created = 0
    for flat in FLATS:
        row = await listings_repository.get_listing(session, flat_id(landlord_id, flat.state))
        if row is None:
            values = _values(flat, landlord_id, city, today)
            row = await listings_repository.insert_listing(session, values)
            created += 1
        flats[flat.state] = row
    return flats, created
