"""What the viewings repository returns: typed, immutable rows (times timezone-aware UTC)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sichrplace.viewings.vocabulary import ViewingStatus


@dataclass(frozen=True, slots=True)
class SlotRow:
    id: uuid.UUID
    listing_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    created_at: datetime
    deleted_at: datetime | None


@dataclass(frozen=True, slots=True)
class BookableSlot:
    """A slot with what booking it needs of its listing (read together, one round trip)."""

    slot: SlotRow
    owner_id: uuid.UUID
    listing_status: str
    title: str


@dataclass(frozen=True, slots=True)
class ViewingRow:
    """A booking with its slot's times (every reader of a viewing shows them)."""

    id: uuid.UUID
    slot_id: uuid.UUID
    listing_id: uuid.UUID
    tenant_id: uuid.UUID
    landlord_id: uuid.UUID
    status: ViewingStatus
    message: str | None
    sequence: int
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    confirmed_at: datetime | None
    cancelled_at: datetime | None
    cancelled_by: uuid.UUID | None
    completed_at: datetime | None
    expired_at: datetime | None
    refunded_at: datetime | None
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True, slots=True)
class ListedViewing:
    """A booking as a list shows it: with both parties' names (each sees who the other is)."""

    viewing: ViewingRow
    tenant_name: str
    landlord_name: str


@dataclass(frozen=True, slots=True)
class Person:
    id: uuid.UUID
    email: str
    full_name: str
    language: str = "de"  # of the emails to them ('de' | 'en')


@dataclass(frozen=True, slots=True)
class ViewingContext:
    """A viewing with what its emails and calendar events say: the listing's title and exact
    address (both parties are entitled to it) and the two people."""

    viewing: ViewingRow
    title: str
    street: str
    house_number: str
    postal_code: str
    city: str
    tenant: Person
    landlord: Person

    @property
    def address(self) -> str:
        return f"{self.street} {self.house_number}, {self.postal_code} {self.city}"
