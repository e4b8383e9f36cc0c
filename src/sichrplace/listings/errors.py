"""Listing problems (problem+json `type` slugs are stable)."""

from __future__ import annotations

from sichrplace.kit.errors import Conflict, Forbidden, NotFound, Unprocessable


class ListingNotFound(NotFound):
    slug = "listing-not-found"

    def __init__(self) -> None:
        super().__init__("No such listing.")


class NotListingOwner(Forbidden):
    slug = "not-listing-owner"

    def __init__(self) -> None:
        super().__init__("Only the listing's owner or an admin may change it.")


class IllegalStatusTransition(Conflict):
    slug = "illegal-status-transition"

    def __init__(self, current: str, wanted: str) -> None:
        # str(): the values, also of enum members (whose repr is not for clients).
        current, wanted = str(current), str(wanted)
        super().__init__(
            f"A listing cannot go from {current!r} to {wanted!r}.",
            errors=[{"field": "status", "message": f"not allowed from {current!r}"}],
        )


def deposit_too_high(deposit_cents: int, cold_rent_cents: int) -> Unprocessable:
    return Unprocessable.field(
        "deposit_cents",
        f"the deposit ({deposit_cents} cents) may be at most 3 x the cold rent "
        f"({3 * cold_rent_cents} cents, §551 BGB)",
        slug="deposit-cap-exceeded",
    )
