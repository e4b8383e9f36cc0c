"""Contract records for the fast tier (no database)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime
from typing import Any

from sichrplace.contracts.records import ContractRow, ListingRef, Parties, PersonRow
from sichrplace.contracts.vocabulary import ContractStatus, DepositPlan, DepositStatus

LANDLORD_ID = uuid.UUID("00000000-0000-4000-8000-00000000000a")
TENANT_ID = uuid.UUID("00000000-0000-4000-8000-00000000000b")
SHA = "ab" * 32


def contract(**overrides: Any) -> ContractRow:
    row = ContractRow(
        id=uuid.UUID("00000000-0000-4000-8000-0000000000c1"),
        listing_id=uuid.UUID("00000000-0000-4000-8000-0000000000d1"),
        viewing_id=None,
        landlord_id=LANDLORD_ID,
        tenant_id=TENANT_ID,
        status=ContractStatus.DRAFT,
        start_date=date(2027, 1, 1),
        end_date=None,
        cold_rent_cents=95_000,
        utilities_cents=22_000,
        deposit_cents=285_000,
        deposit_plan=DepositPlan.ONCE,
        deposit_plan_fixed_at=None,
        deposit_status=DepositStatus.UNPAID,
        document_sha256=None,
        created_at=datetime(2026, 12, 5, 18, 0, tzinfo=UTC),
        updated_at=datetime(2026, 12, 5, 18, 0, tzinfo=UTC),
        sent_at=None,
        fully_signed_at=None,
    )
    return dataclasses.replace(row, **overrides)


def parties(**overrides: Any) -> Parties:
    values: dict[str, Any] = {
        "landlord": PersonRow(LANDLORD_ID, "Grete Größmann", "grete@example.com", "landlord"),
        "tenant": PersonRow(TENANT_ID, "Jürgen Weiß", "juergen@example.com", "tenant"),
        "listing": ListingRef(
            id=uuid.UUID("00000000-0000-4000-8000-0000000000d1"),
            owner_id=LANDLORD_ID,
            status="active",
            street="Schönhauser Allee",
            house_number="12a",
            postal_code="10437",
            city="Berlin",
            rooms=2.5,
            size_sqm=64.5,
        ),
    }
    values.update(overrides)
    return Parties(**values)


@dataclasses.dataclass(frozen=True)
class Who:
    id: uuid.UUID
    role: str


LANDLORD = Who(LANDLORD_ID, "landlord")
TENANT = Who(TENANT_ID, "tenant")
STRANGER = Who(uuid.UUID("00000000-0000-4000-8000-0000000000ff"), "tenant")
ADMIN = Who(uuid.UUID("00000000-0000-4000-8000-0000000000ee"), "admin")
