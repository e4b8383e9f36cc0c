"""Viewing rules without a database: slot times, the booking state machine (every pair of
states), who may see and act on a booking, local times."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from itertools import product

import pytest

from sichrplace.accounts.models import Role
from sichrplace.accounts.security import Principal
from sichrplace.kit.errors import Unprocessable
from sichrplace.viewings import rules
from sichrplace.viewings.errors import (
    IllegalViewingTransition,
    ListingNotBookable,
    NotSlotOwner,
    NotViewingLandlord,
    SlotStarted,
    ViewingNotFound,
    ViewingNotStarted,
)
from sichrplace.viewings.vocabulary import LIVE_STATUSES, ViewingStatus
from tests.unit.viewings.rows import LANDLORD, STARTS, TENANT, viewing

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LIMITS = {"min_minutes": 10, "max_minutes": 240, "max_days_ahead": 180}
S = ViewingStatus


def caller(role: Role, user_id: uuid.UUID | None = None) -> Principal:
    return Principal(user_id or uuid.uuid4(), "x@example.com", role, uuid.uuid4())


def field_of(problem: Unprocessable) -> str:
    return problem.errors[0]["field"]


def _check(starts: datetime, ends: datetime) -> None:
    rules.check_slot_times(starts, ends, now=NOW, **LIMITS)


# --- slot times -------------------------------------------------------------------------------


def test_a_future_slot_of_sensible_length_is_fine() -> None:
    _check(NOW + timedelta(days=1), NOW + timedelta(days=1, minutes=30))
    _check(NOW + timedelta(minutes=1), NOW + timedelta(minutes=11))  # exactly the minimum
    _check(NOW + timedelta(days=180), NOW + timedelta(days=180, minutes=240))  # the maxima


@pytest.mark.parametrize(
    ("starts", "ends", "field"),
    [
        (NOW - timedelta(hours=1), NOW - timedelta(minutes=30), "starts_at"),  # past
        (NOW, NOW + timedelta(minutes=30), "starts_at"),  # starting now is not the future
        (NOW + timedelta(days=181), NOW + timedelta(days=181, minutes=30), "starts_at"),
        (NOW + timedelta(hours=2), NOW + timedelta(hours=1), "ends_at"),  # inverted
        (NOW + timedelta(hours=2), NOW + timedelta(hours=2), "ends_at"),  # empty
        (NOW + timedelta(hours=2), NOW + timedelta(hours=2, minutes=9), "ends_at"),  # short
        (NOW + timedelta(hours=2), NOW + timedelta(hours=6, minutes=1), "ends_at"),  # long
    ],
)
def test_bad_slot_times_name_the_field(starts: datetime, ends: datetime, field: str) -> None:
    with pytest.raises(Unprocessable) as raised:
        _check(starts, ends)
    assert field_of(raised.value) == field


def test_naive_times_are_refused() -> None:
    with pytest.raises(Unprocessable) as raised:
        _check(datetime(2027, 1, 1, 10, 0), NOW + timedelta(days=40))
    assert field_of(raised.value) == "starts_at"


def test_only_the_owner_manages_slots_of_an_active_listing() -> None:
    rules.check_slot_owner(caller(Role.LANDLORD, LANDLORD), LANDLORD)
    with pytest.raises(NotSlotOwner):
        rules.check_slot_owner(caller(Role.LANDLORD), LANDLORD)
    with pytest.raises(NotSlotOwner):  # admins manage listings, not others' viewing times
        rules.check_slot_owner(caller(Role.ADMIN), LANDLORD)
    rules.check_listing_bookable("active")
    for status in ("reserved", "rented", "archived"):
        with pytest.raises(ListingNotBookable):
            rules.check_listing_bookable(status)


# --- booking ----------------------------------------------------------------------------------


def test_booking_ones_own_listing_is_invalid_input() -> None:
    with pytest.raises(Unprocessable) as raised:
        rules.check_bookable(tenant_id=TENANT, owner_id=TENANT, starts_at=STARTS, now=NOW)
    assert field_of(raised.value) == "slot_id"
    assert raised.value.slug == "own-listing"


def test_a_slot_that_has_begun_is_a_conflict() -> None:
    rules.check_bookable(tenant_id=TENANT, owner_id=LANDLORD, starts_at=STARTS, now=NOW)
    for now in (STARTS, STARTS + timedelta(minutes=5)):
        with pytest.raises(SlotStarted) as raised:
            rules.check_bookable(tenant_id=TENANT, owner_id=LANDLORD, starts_at=STARTS, now=now)
        assert raised.value.status == 409


def test_the_payment_window_starts_with_the_booking() -> None:
    assert rules.payment_deadline(NOW, 15) == NOW + timedelta(minutes=15)


# --- the state machine ------------------------------------------------------------------------

ALLOWED = {
    (S.PENDING_PAYMENT, S.CONFIRMED),
    (S.PENDING_PAYMENT, S.CANCELLED),
    (S.PENDING_PAYMENT, S.EXPIRED),
    (S.CONFIRMED, S.COMPLETED),
    (S.CONFIRMED, S.CANCELLED),
}


@pytest.mark.parametrize(("current", "wanted"), list(product(S, S)))
def test_transition_table(current: ViewingStatus, wanted: ViewingStatus) -> None:
    """Every pair of states: exactly the five moves are allowed, all else is 409."""
    assert rules.may_move(current, wanted) == ((current, wanted) in ALLOWED)
    if (current, wanted) in ALLOWED:
        rules.check_transition(current, wanted)
    else:
        with pytest.raises(IllegalViewingTransition) as raised:
            rules.check_transition(current, wanted)
        assert raised.value.status == 409
        assert raised.value.document(language="en")["errors"] == [
            {"field": "status", "message": f"not allowed from {current.value!r}"}
        ]


def test_the_live_states_hold_the_slot() -> None:
    assert set(LIVE_STATUSES) == {S.PENDING_PAYMENT, S.CONFIRMED, S.COMPLETED}


def test_confirm_and_cancel_change_the_calendar_event() -> None:
    assert {s for s in S if rules.bumps_sequence(s)} == {S.CONFIRMED, S.CANCELLED}


# --- who may see and do what ------------------------------------------------------------------


def test_only_the_parties_see_a_viewing() -> None:
    row = viewing()
    assert rules.check_party(caller(Role.TENANT, TENANT), row) == "tenant"
    assert rules.check_party(caller(Role.LANDLORD, LANDLORD), row) == "landlord"
    for stranger in (caller(Role.TENANT), caller(Role.LANDLORD), caller(Role.ADMIN)):
        with pytest.raises(ViewingNotFound):
            rules.check_party(stranger, row)


def test_the_landlord_completes_once_the_slot_began() -> None:
    row = viewing()
    landlord, tenant = caller(Role.LANDLORD, LANDLORD), caller(Role.TENANT, TENANT)
    rules.check_may_complete(landlord, row, now=STARTS)
    with pytest.raises(ViewingNotStarted):
        rules.check_may_complete(landlord, row, now=STARTS - timedelta(seconds=1))
    with pytest.raises(NotViewingLandlord):
        rules.check_may_complete(tenant, row, now=STARTS)
    with pytest.raises(ViewingNotFound):
        rules.check_may_complete(caller(Role.LANDLORD), row, now=STARTS)
    with pytest.raises(IllegalViewingTransition):
        rules.check_may_complete(landlord, viewing(status=S.PENDING_PAYMENT), now=STARTS)


def test_the_calendar_shows_what_was_confirmed() -> None:
    assert rules.in_calendar(viewing(status=S.CONFIRMED))
    assert rules.in_calendar(viewing(status=S.COMPLETED))
    assert rules.in_calendar(viewing(status=S.CANCELLED))  # cancelled after confirmation
    assert not rules.in_calendar(viewing(status=S.CANCELLED, confirmed_at=None))
    assert not rules.in_calendar(viewing(status=S.PENDING_PAYMENT, confirmed_at=None))
    assert not rules.in_calendar(viewing(status=S.EXPIRED, confirmed_at=None))


# --- local time -------------------------------------------------------------------------------


def test_times_are_shown_in_berlin() -> None:
    winter = rules.local(STARTS, "Europe/Berlin")
    assert winter.isoformat() == "2026-12-14T18:00:00+01:00"
    summer = rules.local(datetime(2027, 7, 1, 16, 0, tzinfo=UTC), "Europe/Berlin")
    assert summer.isoformat() == "2027-07-01T18:00:00+02:00"
    ends = STARTS + timedelta(minutes=30)
    assert rules.german_when(STARTS, ends, "Europe/Berlin") == "Mo., 14.12.2026, 18:00-18:30 Uhr"
    assert rules.english_when(STARTS, ends, "Europe/Berlin").startswith("Mon, 14 Dec 2026, 18:00")
