"""Viewing input and output shapes (Pydantic). Times go out with the Europe/Berlin offset
(`settings.viewings.timezone`) of their moment; they are stored in UTC."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from sichrplace.kit.errors import InvalidValue
from sichrplace.kit.i18n import N_
from sichrplace.viewings.vocabulary import ViewingStatus


def _rfc3339(value: Any) -> Any:
    """A time as the contract states it (RFC 3339 text with an offset), not a number read
    as a Unix time."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise InvalidValue(
            N_("must be an RFC 3339 time with offset, e.g. 2027-01-15T18:00:00+01:00")
        )
    return value


Moment = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]
Message = Annotated[str, Field(max_length=2000)]


class SlotCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_at: Moment = Field(description="RFC 3339 with offset; in the future")
    ends_at: Moment = Field(description="after starts_at; a slot lasts 10 to 240 minutes")


class SlotOut(BaseModel):
    id: uuid.UUID
    listing_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime


class SlotPage(BaseModel):
    items: list[SlotOut]


class ViewingCreate(BaseModel):
    """Only what the tenant chooses: the fee is the server's (an amount sent is refused)."""

    model_config = ConfigDict(extra="forbid")

    slot_id: uuid.UUID
    message: Message | None = Field(default=None, description="a note to the landlord")


class PaymentOut(BaseModel):
    id: uuid.UUID
    amount_cents: int
    currency: str
    approval_url: str | None
    status: str
    provider: str


class SlotRef(BaseModel):
    id: uuid.UUID
    starts_at: datetime
    ends_at: datetime


class ViewingOut(BaseModel):
    id: uuid.UUID
    status: ViewingStatus
    listing_id: uuid.UUID
    slot: SlotRef
    tenant_id: uuid.UUID
    landlord_id: uuid.UUID
    message: str | None
    created_at: datetime
    expires_at: datetime = Field(description="an unpaid booking expires then")
    confirmed_at: datetime | None
    cancelled_at: datetime | None
    completed_at: datetime | None
    expired_at: datetime | None
    sequence: int = Field(description="the calendar event's SEQUENCE (RFC 5545)")
    payment: PaymentOut | None = Field(
        default=None, description="the viewing fee's payment (booking and detail only)"
    )


class ListedViewingOut(ViewingOut):
    tenant_name: str = Field(description="the tenant's name (each party sees the other's)")
    landlord_name: str = Field(description="the landlord's name")


class ViewingPage(BaseModel):
    items: list[ListedViewingOut]
    next_cursor: str | None


AsParty = Literal["tenant", "landlord"]


class FeedOut(BaseModel):
    url: str = Field(description="the secret feed URL (shown once; rotate to replace it)")
