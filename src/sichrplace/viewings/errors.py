"""Viewing problems (problem+json `type` slugs are stable)."""

from __future__ import annotations

from sichrplace.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from sichrplace.kit.i18n import N_


class SlotNotFound(NotFound):
    slug = "slot-not-found"

    def __init__(self) -> None:
        super().__init__(N_("No such viewing slot."))


class ViewingNotFound(NotFound):
    slug = "viewing-not-found"

    def __init__(self) -> None:
        super().__init__(N_("No such viewing."))


class CalendarFeedNotFound(NotFound):
    slug = "calendar-feed-not-found"

    def __init__(self) -> None:
        super().__init__(N_("No such calendar feed."))


class SlotOverlaps(Conflict):
    slug = "slot-overlap"

    def __init__(self) -> None:
        super().__init__(
            N_("The slot overlaps another slot of this listing."),
            errors=[{"field": "starts_at", "message": N_("overlaps another slot of the listing")}],
        )


class SlotTaken(Conflict):
    slug = "slot-taken"

    def __init__(self) -> None:
        super().__init__(N_("The slot is already booked."))


class SlotBooked(Conflict):
    slug = "slot-booked"

    def __init__(self) -> None:
        super().__init__(N_("A booked slot cannot be deleted; cancel the viewing first."))


class SlotStarted(Conflict):
    """Booking a slot whose time has come: a conflict with the slot's state (time moved on),
    not bad input — the same request a minute earlier was fine."""

    slug = "slot-started"

    def __init__(self) -> None:
        super().__init__(N_("The slot has already begun and can no longer be booked."))


class IllegalViewingTransition(Conflict):
    slug = "illegal-viewing-transition"

    def __init__(self, current: str, wanted: str) -> None:
        current, wanted = str(current), str(wanted)
        super().__init__(
            N_(
                "A viewing cannot go from '{current}' to '{wanted}'.",
                current=current,
                wanted=wanted,
            ),
            errors=[
                {"field": "status", "message": N_("not allowed from '{current}'", current=current)}
            ],
        )


class ViewingNotStarted(Conflict):
    slug = "viewing-not-started"

    def __init__(self) -> None:
        super().__init__(N_("A viewing can be completed only once its slot has begun."))


class NotViewingLandlord(Forbidden):
    slug = "not-viewing-landlord"

    def __init__(self) -> None:
        super().__init__(N_("Only the landlord completes a viewing."))


class NotSlotOwner(Forbidden):
    slug = "not-listing-owner"

    def __init__(self) -> None:
        super().__init__(N_("Only the listing's owner manages its viewing slots."))


def own_listing() -> Unprocessable:
    return Unprocessable.field(
        "slot_id", N_("a landlord cannot book a viewing of their own listing"), slug="own-listing"
    )


class ListingNotBookable(Conflict):
    slug = "listing-not-bookable"

    def __init__(self) -> None:
        super().__init__(N_("Only an active listing takes new viewing slots and bookings."))


class ViewingNotPayable(Conflict):
    slug = "viewing-not-payable"

    def __init__(self) -> None:
        super().__init__(N_("Nothing is owed for this viewing now (only its tenant pays, once)."))
