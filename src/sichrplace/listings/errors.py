"""Listing problems (problem+json `type` slugs are stable)."""

from __future__ import annotations

from sichrplace.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from sichrplace.kit.i18n import N_


class ListingNotFound(NotFound):
    slug = "listing-not-found"

    def __init__(self) -> None:
        super().__init__(N_("No such listing."))


class ListingArchived(ListingNotFound):
    """Still 404 (the API's contract): the type tells a listing taken down from one that
    never was, for the web page's 410 Gone (search engines drop such a page at once)."""

    slug = "listing-archived"

    def __init__(self) -> None:
        NotFound.__init__(self, N_("This listing is no longer available."))


class NotListingOwner(Forbidden):
    slug = "not-listing-owner"

    def __init__(self) -> None:
        super().__init__(N_("Only the listing's owner or an admin may change it."))


class IllegalStatusTransition(Conflict):
    slug = "illegal-status-transition"

    def __init__(self, current: str, wanted: str) -> None:
        # str(): the values, also of enum members (whose repr is not for clients).
        current, wanted = str(current), str(wanted)
        super().__init__(
            N_(
                "A listing cannot go from '{current}' to '{wanted}'.",
                current=current,
                wanted=wanted,
            ),
            errors=[
                {"field": "status", "message": N_("not allowed from '{current}'", current=current)}
            ],
        )


def deposit_too_high(deposit_cents: int, cold_rent_cents: int) -> Unprocessable:
    return Unprocessable.field(
        "deposit_cents",
        N_(
            "the deposit ({deposit} cents) may be at most 3 x the cold rent "
            "({cap} cents, §551 BGB)",
            deposit=deposit_cents,
            cap=3 * cold_rent_cents,
        ),
        slug="deposit-cap-exceeded",
    )
