"""The listing detail document is written out unchanged as the response body and is what the
cache holds: its bytes (keys, order, values) are part of the contract."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sichrplace.kit.jsonbody import dumps
from sichrplace.listings.detail import document, shaped
from sichrplace.listings.rules import approximate_point
from sichrplace.listings.schemas import ListingOut
from tests.unit.listings.rows import LISTING, OWNER, listing


@dataclass(frozen=True)
class Viewer:
    id: uuid.UUID
    role: str


STRANGERS = (
    None,
    Viewer(uuid.uuid4(), "tenant"),
    Viewer(uuid.uuid4(), "landlord"),
)
MANAGERS = (Viewer(OWNER, "landlord"), Viewer(uuid.uuid4(), "admin"))

EXPECTED = (
    b'{"id":"8f7d6c5b-4a39-4281-9706-f5e4d3c2b1a0","owner_id":"0b6c1f52-35f4-4a8e-9d0e-6a2b8f1c3d4e",'
    b'"title":"Helle 3-Zimmer-Wohnung mit Balkon",'
    b'"description":"Ruhige Lage, Einbauk\xc3\xbcche, Keller und Fahrradkeller.",'
    b'"street":"Karl-Marx-Allee","house_number":"12a","postal_code":"10243","city":"Berlin",'
    b'"district":"Friedrichshain","latitude":52.5163,"longitude":13.4376,"show_exact_address":false,'
    b'"geocode_status":"ok","cold_rent_cents":95000,'
    b'"utilities_cents":22000,"warm_rent_cents":117000,"deposit_cents":285000,"rooms":3.0,'
    b'"size_sqm":78.5,"furnished":false,"pets_allowed":true,"available_from":"2027-01-01",'
    b'"amenities":["balcony","fitted_kitchen","cellar"],"energy_class":"B","wbs_required":false,'
    b'"status":"active","view_count":7,"images":[],"created_at":"2026-11-28T15:04:05.123456Z",'
    b'"updated_at":"2026-11-28T15:04:05Z"}'
)


def test_the_document_is_the_contract_in_its_order_byte_for_byte() -> None:
    doc = document(LISTING)
    assert list(doc) == list(ListingOut.model_fields)
    assert dumps(doc) == EXPECTED


def test_the_document_reads_as_the_response_model_would_write_it() -> None:
    for row in (LISTING, listing(latitude=None, longitude=None, available_from=None)):
        doc = document(row)
        assert dumps(doc) == dumps(ListingOut.model_validate(doc).model_dump(mode="json"))


def test_extras_fill_in_the_images_in_place() -> None:
    images = [{"id": "i1", "status": "processing"}]
    doc = document(LISTING, {"images": images})
    assert doc["images"] == images
    assert list(doc) == list(ListingOut.model_fields)


def test_strangers_see_no_owner_no_street_and_a_cell_centre() -> None:
    full = document(LISTING)
    for viewer in STRANGERS:
        doc = shaped(full, viewer)
        assert "owner_id" not in doc, viewer
        assert (doc["street"], doc["house_number"]) == (None, None)
        assert (doc["latitude"], doc["longitude"]) == approximate_point(52.5163, 13.4376)
        assert (doc["postal_code"], doc["district"], doc["city"]) == (
            "10243",
            "Friedrichshain",
            "Berlin",
        )
        # What the response model would write, less the owner id it leaves out.
        dumped = ListingOut.model_validate(doc).model_dump(mode="json", exclude={"owner_id"})
        assert dumps(doc) == dumps(dumped)
    assert full["street"] == "Karl-Marx-Allee"  # the full document itself is left alone


def test_owner_and_admins_see_everything() -> None:
    full = document(LISTING)
    for viewer in MANAGERS:
        assert shaped(full, viewer) == full


def test_shown_exact_address_is_public_but_the_owner_id_is_not() -> None:
    full = document(listing(show_exact_address=True))
    for viewer in STRANGERS:
        doc = shaped(full, viewer)
        assert "owner_id" not in doc
        assert (doc["street"], doc["house_number"]) == ("Karl-Marx-Allee", "12a")
        assert (doc["latitude"], doc["longitude"]) == (52.5163, 13.4376)


def test_a_confirmed_viewing_shows_the_address_not_the_owner() -> None:
    doc = shaped(document(LISTING), STRANGERS[1], has_confirmed_viewing=True)
    assert (doc["street"], doc["latitude"]) == ("Karl-Marx-Allee", 52.5163)
    assert "owner_id" not in doc


def test_unlocated_listing_stays_unlocated() -> None:
    doc = shaped(document(listing(latitude=None, longitude=None)), None)
    assert (doc["latitude"], doc["longitude"]) == (None, None)
