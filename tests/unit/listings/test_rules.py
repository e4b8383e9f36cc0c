"""Listing rules without a database: deposit cap, coordinates, status transitions, who may
manage or see a listing, and the partial-update merge."""

from __future__ import annotations

import uuid
from datetime import date
from itertools import product

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sichrplace.accounts.models import Role
from sichrplace.accounts.security import Principal
from sichrplace.kit.errors import Conflict, Unprocessable
from sichrplace.listings import rules
from sichrplace.listings.errors import IllegalStatusTransition, ListingNotFound, NotListingOwner
from sichrplace.listings.vocabulary import MAX_CENTS, ListingStatus
from tests.unit.listings.rows import LISTING, OWNER, listing

ACTIVE, RESERVED, RENTED, ARCHIVED = (
    ListingStatus.ACTIVE,
    ListingStatus.RESERVED,
    ListingStatus.RENTED,
    ListingStatus.ARCHIVED,
)


def caller(role: Role, user_id: uuid.UUID | None = None) -> Principal:
    return Principal(user_id or uuid.uuid4(), "x@example.com", role, uuid.uuid4())


OWNER_CALLER = caller(Role.LANDLORD, OWNER)
OTHER = caller(Role.LANDLORD)
ADMIN = caller(Role.ADMIN)
TENANT = caller(Role.TENANT)


def fields_of(problem: Unprocessable | Conflict) -> list[str]:
    return [e["field"] for e in problem.errors]


# --- deposit cap (§551 BGB) -------------------------------------------------------------------


def test_a_deposit_of_three_cold_rents_is_the_most() -> None:
    rules.check_deposit(300_000, 100_000)
    rules.check_deposit(0, 0)
    with pytest.raises(Unprocessable) as raised:
        rules.check_deposit(300_001, 100_000)
    assert raised.value.slug == "deposit-cap-exceeded"
    assert fields_of(raised.value) == ["deposit_cents"]
    assert "300000 cents" in str(raised.value.errors[0]["message"])


@given(st.integers(0, MAX_CENTS), st.integers(0, MAX_CENTS))
def test_the_cap_holds_for_any_amounts(deposit: int, cold_rent: int) -> None:
    allowed = deposit <= 3 * cold_rent
    try:
        rules.check_deposit(deposit, cold_rent)
    except Unprocessable:
        assert not allowed
    else:
        assert allowed


# --- coordinates ------------------------------------------------------------------------------


def test_latitude_and_longitude_go_together() -> None:
    rules.check_coordinates(52.5, 13.4)
    rules.check_coordinates(None, None)
    for latitude, longitude, missing in ((52.5, None, "longitude"), (None, 13.4, "latitude")):
        with pytest.raises(Unprocessable) as raised:
            rules.check_coordinates(latitude, longitude)
        assert fields_of(raised.value) == [missing]


# --- status transitions -----------------------------------------------------------------------

ALLOWED = {
    (ACTIVE, RESERVED), (ACTIVE, RENTED), (ACTIVE, ARCHIVED),
    (RESERVED, ACTIVE), (RESERVED, RENTED), (RESERVED, ARCHIVED),
    (RENTED, ACTIVE), (RENTED, ARCHIVED),
    (ARCHIVED, ACTIVE),
}  # fmt: skip


@pytest.mark.parametrize(("current", "wanted"), list(product(ListingStatus, ListingStatus)))
def test_status_transitions(current: ListingStatus, wanted: ListingStatus) -> None:
    expected = current == wanted or (current, wanted) in ALLOWED
    assert rules.may_move(current, wanted) is expected
    if expected:
        rules.check_transition(current, wanted)
    else:
        with pytest.raises(IllegalStatusTransition):
            rules.check_transition(current, wanted)


def test_an_illegal_transition_is_a_409_naming_status_by_value() -> None:
    with pytest.raises(IllegalStatusTransition) as raised:
        rules.check_transition(RENTED, RESERVED)
    assert raised.value.status == 409
    assert raised.value.slug == "illegal-status-transition"
    english = raised.value.document(language="en")
    assert english["detail"] == "A listing cannot go from 'rented' to 'reserved'."
    assert english["errors"] == [{"field": "status", "message": "not allowed from 'rented'"}]
    german = raised.value.document(language="de")
    assert german["detail"] == "Eine Anzeige kann nicht von 'rented' zu 'reserved' wechseln."


# --- who may manage and see -------------------------------------------------------------------


def test_the_owner_and_admins_manage_a_listing() -> None:
    assert rules.may_manage(OWNER_CALLER, OWNER)
    assert rules.may_manage(OWNER_CALLER, str(OWNER))  # as the cached document holds it
    assert rules.may_manage(ADMIN, OWNER)
    assert not rules.may_manage(OTHER, OWNER)
    assert not rules.may_manage(TENANT, OWNER)
    assert not rules.may_manage(None, OWNER)


@pytest.mark.parametrize("status", list(ListingStatus))
def test_only_an_archived_listing_is_hidden_and_only_from_others(status: ListingStatus) -> None:
    for who in (None, OTHER, TENANT):
        assert rules.may_see(who, owner_id=OWNER, status=status) is (status != ARCHIVED)
    for who in (OWNER_CALLER, ADMIN):
        assert rules.may_see(who, owner_id=str(OWNER), status=status)


def test_someone_else_may_not_change_a_listing_nor_learn_of_an_archived_one() -> None:
    rules.check_may_change(OWNER_CALLER, LISTING)
    rules.check_may_change(ADMIN, listing(status=ARCHIVED))
    with pytest.raises(NotListingOwner):
        rules.check_may_change(OTHER, LISTING)
    with pytest.raises(ListingNotFound):
        rules.check_may_change(OTHER, listing(status=ARCHIVED))


# --- the partial update -----------------------------------------------------------------------


def test_only_optional_fields_may_be_set_to_null() -> None:
    optional = {"latitude", "longitude", "available_from", "energy_class", "district"}
    assert optional | {"district_key"} == rules.NULLABLE  # district_key follows district
    merged = rules.merge(
        LISTING, {"latitude": None, "longitude": None, "available_from": None, "energy_class": None}
    )
    assert (merged.latitude, merged.longitude, merged.available_from) == (None, None, None)
    assert merged.energy_class is None
    for name in ("title", "cold_rent_cents", "amenities", "status", "rooms", "wbs_required"):
        with pytest.raises(Unprocessable) as raised:
            rules.merge(LISTING, {name: None})
        assert fields_of(raised.value) == [name]


def test_a_merge_keeps_what_was_not_sent_and_derives_the_city_key() -> None:
    merged = rules.merge(LISTING, {"title": "Altbauwohnung am Park", "city": "  MÜNCHEN "})
    assert merged.title == "Altbauwohnung am Park"
    assert merged.city_key == "munchen"
    assert merged.description == LISTING.description
    # The compound parts of the new title join the text's (listings/fulltext.py).
    assert merged.search_extra.split()[:2] == ["Altbau", "Wohnung"]
    assert rules.changed_columns(LISTING, merged) == {
        "title": "Altbauwohnung am Park",
        "city": "  MÜNCHEN ",
        "city_key": "munchen",
        "search_extra": merged.search_extra,
    }


def test_the_deposit_cap_is_checked_on_the_merged_listing() -> None:
    # Lowering the cold rent alone leaves the stored deposit above 3 x the new rent.
    stored = listing(cold_rent_cents=100_000, deposit_cents=300_000)
    with pytest.raises(Unprocessable) as raised:
        rules.merge(stored, {"cold_rent_cents": 90_000})
    assert fields_of(raised.value) == ["deposit_cents"]
    with pytest.raises(Unprocessable):
        rules.merge(listing(cold_rent_cents=100_000), {"deposit_cents": 300_001})
    both = rules.merge(stored, {"cold_rent_cents": 90_000, "deposit_cents": 270_000})
    assert (both.cold_rent_cents, both.deposit_cents) == (90_000, 270_000)


def test_coordinates_are_checked_on_the_merged_listing() -> None:
    with pytest.raises(Unprocessable) as raised:
        rules.merge(LISTING, {"latitude": None})
    assert fields_of(raised.value) == ["latitude"]
    moved = rules.merge(LISTING, {"latitude": 48.1, "longitude": 11.5})
    assert (moved.latitude, moved.longitude) == (48.1, 11.5)


def test_a_status_sent_must_be_a_legal_transition() -> None:
    rented = listing(status=RENTED)
    with pytest.raises(IllegalStatusTransition):
        rules.merge(rented, {"status": RESERVED})
    assert rules.merge(rented, {"status": RENTED}).status is RENTED  # the same: a no-op
    assert rules.merge(rented, {"title": "Neu vermietet"}).status is RENTED  # not sent: kept


def test_arrays_are_held_as_tuples_and_an_unchanged_patch_changes_nothing() -> None:
    merged = rules.merge(LISTING, {"amenities": list(LISTING.amenities), "rooms": 3.0})
    assert merged.amenities == LISTING.amenities
    assert rules.changed_columns(LISTING, merged) == {}
    fewer = rules.merge(LISTING, {"amenities": ["balcony"], "available_from": date(2027, 2, 1)})
    assert rules.changed_columns(LISTING, fewer) == {
        "amenities": ("balcony",),
        "available_from": date(2027, 2, 1),
    }


def test_an_address_change_is_any_of_its_fields() -> None:
    assert not rules.address_changed(LISTING, rules.merge(LISTING, {"title": "Neu"}))
    for name, value in (("street", "Frankfurter Allee"), ("house_number", "1"),
                        ("postal_code", "10247"), ("city", "Potsdam")):  # fmt: skip
        assert rules.address_changed(LISTING, rules.merge(LISTING, {name: value}))
