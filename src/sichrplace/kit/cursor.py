"""Opaque keyset cursors for lists ordered by (a time, an id): URL-safe base64 of both."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime


def encode_time_id(moment: datetime, ident: uuid.UUID) -> str:
    raw = f"{moment.isoformat()}|{ident}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_time_id(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (time, id) a cursor names; ValueError for anything that is not one of ours (the
    caller answers 422 naming its parameter)."""
    # binascii.Error and UnicodeDecodeError are ValueErrors too.
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    moment_text, _, ident = raw.partition("|")
    moment = datetime.fromisoformat(moment_text)
    if moment.tzinfo is None:
        raise ValueError("a cursor's time has an offset")
    return moment, uuid.UUID(ident)
