"""Viewing rows for the fast tier's tests (no database)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sichrplace.viewings.records import Person, ViewingContext, ViewingRow
from sichrplace.viewings.vocabulary import ViewingStatus

TENANT = uuid.UUID("00000000-0000-4000-8000-000000000001")
LANDLORD = uuid.UUID("00000000-0000-4000-8000-000000000002")
# Monday 14 December 2026, 17:00 UTC = 18:00 in Berlin (CET, +01:00).
STARTS = datetime(2026, 12, 14, 17, 0, tzinfo=UTC)


def viewing(**changes: Any) -> ViewingRow:
    base = ViewingRow(
        id=uuid.UUID("00000000-0000-4000-8000-0000000000aa"),
        slot_id=uuid.uuid4(),
        listing_id=uuid.uuid4(),
        tenant_id=TENANT,
        landlord_id=LANDLORD,
        status=ViewingStatus.CONFIRMED,
        message=None,
        sequence=1,
        created_at=STARTS - timedelta(days=3),
        updated_at=STARTS - timedelta(days=2),
        expires_at=STARTS - timedelta(days=3) + timedelta(minutes=15),
        confirmed_at=STARTS - timedelta(days=2),
        cancelled_at=None,
        cancelled_by=None,
        completed_at=None,
        expired_at=None,
        refunded_at=None,
        starts_at=STARTS,
        ends_at=STARTS + timedelta(minutes=30),
    )
    return dataclasses.replace(base, **changes)


def context(**changes: Any) -> ViewingContext:
    return ViewingContext(
        viewing=viewing(**changes),
        title="Helle 3-Zimmer-Wohnung mit Balkon",
        street="Karl-Marx-Allee",
        house_number="12a",
        postal_code="10243",
        city="Berlin",
        tenant=Person(TENANT, "mieterin@example.com", "Jana Müller"),
        landlord=Person(LANDLORD, "vermieter@example.com", "Jürgen Schmidt"),
    )
