"""Listing rules as pure functions (no I/O): the deposit cap, coordinates that go together,
status transitions, who may manage or see a listing, and the partial-update merge.

The service reads and writes; these decide, on typed rows, and raise the domain's problems.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from typing import Any, Protocol, get_args, get_type_hints

from sichrplace.kit.errors import Unprocessable
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
        raise Unprocessable.field(missing, "latitude and longitude go together")


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


def check_may_change(caller: Caller, listing: ListingRow) -> None:
    """403 for someone else's listing; 404 if it is archived (others may not learn it exists)."""
    if may_manage(caller, listing.owner_id):
        return
    if not may_see(caller, owner_id=listing.owner_id, status=listing.status):
        raise ListingNotFound()
    raise NotListingOwner()


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
            raise Unprocessable.field(name, "must not be null")
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
