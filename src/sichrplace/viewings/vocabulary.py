"""The viewings domain's words: a booking's states and which of them hold the slot."""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Literal


class ViewingStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    CONFIRMED = "confirmed"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


# A booking in one of these holds its slot (the partial unique index of migration 0018).
LIVE_STATUSES: tuple[ViewingStatus, ...] = (
    ViewingStatus.PENDING_PAYMENT,
    ViewingStatus.CONFIRMED,
    ViewingStatus.COMPLETED,
)

# Where a booking may go from each state; the ends have no way out.
TRANSITIONS: dict[ViewingStatus, frozenset[ViewingStatus]] = {
    ViewingStatus.PENDING_PAYMENT: frozenset(
        {ViewingStatus.CONFIRMED, ViewingStatus.CANCELLED, ViewingStatus.EXPIRED}
    ),
    ViewingStatus.CONFIRMED: frozenset({ViewingStatus.COMPLETED, ViewingStatus.CANCELLED}),
    ViewingStatus.COMPLETED: frozenset(),
    ViewingStatus.CANCELLED: frozenset(),
    ViewingStatus.EXPIRED: frozenset(),
}

# The per-user event (platform.events) both parties' streams get on each change of status.
VIEWING_UPDATED: Final = "viewing.updated"

# A party's side of a booking.
Party = Literal["tenant", "landlord"]
