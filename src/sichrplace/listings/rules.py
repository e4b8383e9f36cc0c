"""Listing rules as pure functions (no I/O): the deposit cap, coordinates that go together,
status transitions, who may manage or see a listing (and its exact address), the
approximate location the public sees, and the partial-update merge.

The service reads and writes; these decide, on typed rows, and raise the domain's problems.
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from collections.abc import Mapping
from typing import Any, Protocol, get_args, get_type_hints

from sichrplace.kit.errors import Unprocessable
from sichrplace.kit.i18n import N_
from sichrplace.listings.errors import (
    IllegalStatusTransition,
    ListingNotFound,
    NotListingOwner,
    deposit_too_high,
)
from sichrplace.listings.fulltext import derived_columns
from sichrplace.listings.records import ADDRESS_FIELDS, ListingRow
from sichrplace.listings.vocabulary import STATUS_TRANSITIONS, ListingStatus

# §551 BGB: a rental deposit is at most three months' cold rent.
MAX_DEPOSIT_COLD_RENTS = 3


class Caller(Protocol):
    """The authenticated caller (accounts' Principal satisfies this)."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def role(self) -> str: ...


# --- money and place --------------------------------------------------------------------------


def max_deposit_cents(cold_rent_cents: int) -> int:
    return MAX_DEPOSIT_COLD_RENTS * cold_rent_cents


def check_deposit(deposit_cents: int, cold_rent_cents: int) -> None:
    """422 naming `deposit_cents` when it exceeds the cap (§551 BGB)."""
    if deposit_cents > max_deposit_cents(cold_rent_cents):
        raise deposit_too_high(deposit_cents, cold_rent_cents)


def check_coordinates(latitude: float | None, longitude: float | None) -> None:
    """422 naming the missing one when only one of latitude and longitude is given."""
    if (latitude is None) != (longitude is None):
        missing = "longitude" if longitude is None else "latitude"
        raise Unprocessable.field(missing, N_("latitude and longitude go together"))


# --- status -----------------------------------------------------------------------------------


def may_move(current: ListingStatus, wanted: ListingStatus) -> bool:
    """Staying in the same status is always allowed (a no-op)."""
    return wanted == current or wanted in STATUS_TRANSITIONS[current]


def check_transition(current: ListingStatus, wanted: ListingStatus) -> None:
    """409 naming `status` when the listing may not go from `current` to `wanted`."""
    if not may_move(current, wanted):
        raise IllegalStatusTransition(current, wanted)


# --- who may do what --------------------------------------------------------------------------


def may_manage(caller: Caller | None, owner_id: uuid.UUID | str) -> bool:
    """The owner and admins manage a listing (edit, archive, see it archived)."""
    return caller is not None and (caller.role == "admin" or str(caller.id) == str(owner_id))


def may_see(caller: Caller | None, *, owner_id: uuid.UUID | str, status: str) -> bool:
    """An archived listing is invisible to everyone but those who manage it."""
    return status != ListingStatus.ARCHIVED or may_manage(caller, owner_id)


def may_manage_some(caller: Caller | None) -> bool:
    """Whether the caller could manage any listing at all (landlords and admins): only for
    them is the detail read past the public cache to find out whether it is theirs."""
    return caller is not None and caller.role in ("landlord", "admin")


def may_see_exact_address(
    *,
    show_exact_address: bool,
    owner_id: uuid.UUID | str | None,
    viewer: Caller | None,
    has_confirmed_viewing: bool = False,
) -> bool:
    """Whether `viewer` sees the street, house number and exact coordinates of a listing.

    The one place this is decided (every shaping path asks it: the detail, search items,
    popular): everyone if the landlord chose to show the exact address, else only its owner
    and admins, and a tenant with a confirmed viewing (the booking journey passes
    `has_confirmed_viewing`). Public lists pass no viewer."""
    if show_exact_address or has_confirmed_viewing:
        return True
    return viewer is not None and owner_id is not None and may_manage(viewer, owner_id)


def check_may_change(caller: Caller, listing: ListingRow) -> None:
    """403 for someone else's listing; 404 if it is archived (others may not learn it exists)."""
    if may_manage(caller, listing.owner_id):
        return
    if not may_see(caller, owner_id=listing.owner_id, status=listing.status):
        raise ListingNotFound()
    raise NotListingOwner()


# --- the approximate location ---------------------------------------------------------------

# The public sees a listing's coordinates snapped to the centre of a grid cell of about
# 500 m x 500 m: deterministic (equal inputs, equal outputs; random jitter would average out
# over repeated reads), and two listings in one cell show the same point. Rows of the grid
# are CELL_DEGREES of latitude high (~500 m); each row is cut into a whole number of cells
# about as wide, so cells stay ~500 m wide at any latitude.
CELL_DEGREES = 0.0045  # of latitude: 0.0045 x 111.2 km = ~500 m
_DECIMALS = 6  # decimals of a snapped coordinate (as JSON carries it)


def approximate_point(latitude: float, longitude: float) -> tuple[float, float]:
    """The centre of the ~500 m grid cell that holds (latitude, longitude)."""
    row = math.floor(latitude / CELL_DEGREES)
    lat = min(90.0, max(-90.0, (row + 0.5) * CELL_DEGREES))
    columns = max(1, math.floor(360.0 / (CELL_DEGREES / max(math.cos(math.radians(lat)), 1e-6))))
    width = 360.0 / columns
    column = min(columns - 1, math.floor((longitude + 180.0) / width))
    lng = -180.0 + (column + 0.5) * width
    return round(lat, _DECIMALS), round(lng, _DECIMALS)


def shown_point(
    latitude: float | None, longitude: float | None, *, exact: bool
) -> tuple[float | None, float | None]:
    """The coordinates to show: as stored if `exact`, else the cell's centre (none: none)."""
    if exact or latitude is None or longitude is None:
        return latitude, longitude
    return approximate_point(latitude, longitude)


# --- the partial update -----------------------------------------------------------------------


def _nullable_fields() -> frozenset[str]:
    hints = get_type_hints(ListingRow)
    return frozenset(name for name, hint in hints.items() if type(None) in get_args(hint))


# The fields a PATCH may set to null: those a stored listing may hold as null.
NULLABLE = _nullable_fields()


def _stored(value: object) -> object:
    """A sent value as the row holds it (arrays as tuples)."""
    return tuple(value) if isinstance(value, list) else value


def merge(current: ListingRow, sent: Mapping[str, object]) -> ListingRow:
    """The listing as it will be after a PATCH of the `sent` fields, validated as a whole:
    null only where the field is nullable, the deposit cap and the coordinates on the merged
    values, the status transition if one was asked for; derived columns follow."""
    for name, value in sent.items():
        if value is None and name not in NULLABLE:
            raise Unprocessable.field(name, N_("must not be null"))
    changes: dict[str, Any] = {name: _stored(value) for name, value in sent.items()}
    merged = dataclasses.replace(current, **changes)
    check_deposit(merged.deposit_cents, merged.cold_rent_cents)
    check_coordinates(merged.latitude, merged.longitude)
    if "status" in sent:
        check_transition(current.status, ListingStatus(merged.status))
    derived = derived_columns(
        {
            "city": merged.city,
            "district": merged.district,
            "title": merged.title,
            "description": merged.description,
        }
    )
    return dataclasses.replace(merged, **derived)


def address_changed(current: ListingRow, merged: ListingRow) -> bool:
    return any(getattr(merged, name) != getattr(current, name) for name in ADDRESS_FIELDS)


def changed_columns(current: ListingRow, merged: ListingRow) -> dict[str, object]:
    """The columns whose values differ (what an UPDATE has to write); empty: nothing to do."""
    changed: dict[str, object] = {}
    for field in dataclasses.fields(ListingRow):
        value = getattr(merged, field.name)
        if value != getattr(current, field.name):
            changed[field.name] = value
    return changed
