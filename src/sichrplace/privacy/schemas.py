"""Privacy shapes in and out of the API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field


class DeleteAccountIn(BaseModel):
    """The current password: deleting the account needs it again, whatever the token."""

    password: Annotated[str, Field(min_length=1, max_length=1024)]


class ExportOut(BaseModel):
    """The data export (a JSON download). `retention` says what is kept after a deletion."""

    generated_at: datetime
    user_id: uuid.UUID
    profile: dict[str, Any]
    sessions: list[dict[str, Any]]
    listings: list[dict[str, Any]]
    viewings: list[dict[str, Any]]
    payments: list[dict[str, Any]]
    ledger_entries: list[dict[str, Any]]
    contracts: list[dict[str, Any]]
    conversations: list[dict[str, Any]]
    calendar_feed: dict[str, Any]
    retention: list[dict[str, Any]]
