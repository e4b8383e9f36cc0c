"""All contract SQL (Core; no ORM entity loading). Rows come back as the typed records of
`contracts.records`. The viewing a contract starts from is read from the viewings table here
(its columns as migration 0018 defines them), so contracts need nothing of the viewings code."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Row, Table, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from sichrplace.accounts.models import User
from sichrplace.contracts.models import (
    Contract,
    ContractDepositInstallment,
    ContractDocument,
    ContractEvent,
    ContractSignature,
)
from sichrplace.contracts.records import (
    ContractRow,
    EventRow,
    InstallmentRow,
    ListingRef,
    PersonRow,
    SignatureRow,
    ViewingRef,
)
from sichrplace.contracts.vocabulary import (
    ContractStatus,
    DepositPlan,
    DepositStatus,
    EventKind,
    Party,
)
from sichrplace.listings.models import Listing
from sichrplace.platform.db.sessions import PrimarySession

contracts: Table = Contract.__table__  # type: ignore[assignment]
documents: Table = ContractDocument.__table__  # type: ignore[assignment]
signatures: Table = ContractSignature.__table__  # type: ignore[assignment]
events: Table = ContractEvent.__table__  # type: ignore[assignment]
installments: Table = ContractDepositInstallment.__table__  # type: ignore[assignment]
users: Table = User.__table__  # type: ignore[assignment]
listings: Table = Listing.__table__  # type: ignore[assignment]

CONTRACT_COLUMNS = [contracts.c[f.name] for f in dataclasses.fields(ContractRow)]
SIGNATURE_COLUMNS = [signatures.c[f.name] for f in dataclasses.fields(SignatureRow)]
EVENT_COLUMNS = [events.c[f.name] for f in dataclasses.fields(EventRow)]
INSTALLMENT_COLUMNS = [installments.c[f.name] for f in dataclasses.fields(InstallmentRow)]
LISTING_COLUMNS = [listings.c[f.name] for f in dataclasses.fields(ListingRef)]
PERSON_COLUMNS = [users.c[f.name] for f in dataclasses.fields(PersonRow)]

AnyRow = Row[tuple[Any, ...]]


def _contract(row: AnyRow) -> ContractRow:
    values = row._asdict()
    return ContractRow(
        **{
            **values,
            "status": ContractStatus(values["status"]),
            "deposit_plan": DepositPlan(values["deposit_plan"]),
            "deposit_status": DepositStatus(values["deposit_status"]),
        }
    )


def _signature(row: AnyRow) -> SignatureRow:
    values = row._asdict()
    return SignatureRow(**{**values, "party": Party(values["party"])})


def _event(row: AnyRow) -> EventRow:
    values = row._asdict()
    return EventRow(**{**values, "kind": EventKind(values["kind"])})


# --- what a contract refers to ----------------------------------------------------------------


async def get_viewing(session: PrimarySession, viewing_id: uuid.UUID) -> ViewingRef | None:
    row = (
        await session.execute(
            text(
                "SELECT id, listing_id, tenant_id, landlord_id, status FROM viewings WHERE id = :id"
            ),
            {"id": viewing_id},
        )
    ).one_or_none()
    return None if row is None else ViewingRef(**row._asdict())


async def get_listing(session: PrimarySession, listing_id: uuid.UUID) -> ListingRef | None:
    stmt = select(*LISTING_COLUMNS).where(listings.c.id == listing_id)
    row = (await session.execute(stmt)).one_or_none()
    if row is None:
        return None
    values = row._asdict()
    return ListingRef(
        **{**values, "rooms": float(values["rooms"]), "size_sqm": float(values["size_sqm"])}
    )


async def get_person(session: PrimarySession, user_id: uuid.UUID) -> PersonRow | None:
    stmt = select(*PERSON_COLUMNS).where(users.c.id == user_id)
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else PersonRow(**row._asdict())


# --- contracts --------------------------------------------------------------------------------


async def insert_contract(session: PrimarySession, values: Mapping[str, object]) -> ContractRow:
    stmt = insert(contracts).values(**values).returning(*CONTRACT_COLUMNS)
    return _contract((await session.execute(stmt)).one())


async def get_contract(session: PrimarySession, contract_id: uuid.UUID) -> ContractRow | None:
    stmt = select(*CONTRACT_COLUMNS).where(contracts.c.id == contract_id)
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else _contract(row)


async def lock_contract(session: PrimarySession, contract_id: uuid.UUID) -> ContractRow | None:
    """The contract, row-locked until the transaction ends: sending, signing and the deposit's
    payments of one contract happen one after the other."""
    stmt = select(*CONTRACT_COLUMNS).where(contracts.c.id == contract_id).with_for_update()
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else _contract(row)


async def update_contract(
    session: PrimarySession, contract_id: uuid.UUID, values: Mapping[str, object]
) -> ContractRow:
    stmt = (
        update(contracts)
        .where(contracts.c.id == contract_id)
        .values(**values, updated_at=func.clock_timestamp())
        .returning(*CONTRACT_COLUMNS)
    )
    return _contract((await session.execute(stmt)).one())


async def list_contracts(
    session: PrimarySession, user_id: uuid.UUID, party: Party, limit: int
) -> list[ContractRow]:
    column = contracts.c.tenant_id if party == Party.TENANT else contracts.c.landlord_id
    stmt = (
        select(*CONTRACT_COLUMNS)
        .where(column == user_id)
        .order_by(contracts.c.created_at.desc(), contracts.c.id.desc())
        .limit(limit)
    )
    return [_contract(r) for r in (await session.execute(stmt)).all()]


# --- the frozen document ----------------------------------------------------------------------


async def insert_document(
    session: PrimarySession, contract_id: uuid.UUID, pdf: bytes, sha256: str
) -> None:
    await session.execute(insert(documents).values(contract_id=contract_id, pdf=pdf, sha256=sha256))


async def get_document(session: PrimarySession, contract_id: uuid.UUID) -> bytes | None:
    stmt = select(documents.c.pdf).where(documents.c.contract_id == contract_id)
    pdf = (await session.execute(stmt)).scalar_one_or_none()
    return None if pdf is None else bytes(pdf)


# --- signatures and the audit trail -----------------------------------------------------------


async def get_signatures(session: PrimarySession, contract_id: uuid.UUID) -> list[SignatureRow]:
    stmt = (
        select(*SIGNATURE_COLUMNS)
        .where(signatures.c.contract_id == contract_id)
        .order_by(signatures.c.signed_at)
    )
    return [_signature(r) for r in (await session.execute(stmt)).all()]


async def insert_signature(
    session: PrimarySession, values: Mapping[str, object]
) -> SignatureRow | None:
    """The signature, or None when the party has signed already (the primary key decides)."""
    stmt = (
        pg_insert(signatures)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["contract_id", "party"])
        .returning(*SIGNATURE_COLUMNS)
    )
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else _signature(row)


async def add_event(
    session: PrimarySession,
    contract_id: uuid.UUID,
    kind: EventKind,
    *,
    actor_id: uuid.UUID | None,
    ip: str | None = None,
    user_agent: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    await session.execute(
        insert(events).values(
            contract_id=contract_id,
            kind=kind.value,
            actor_id=actor_id,
            ip=ip,
            user_agent=user_agent,
            detail=dict(detail or {}),
        )
    )


async def get_events(session: PrimarySession, contract_id: uuid.UUID) -> list[EventRow]:
    stmt = select(*EVENT_COLUMNS).where(events.c.contract_id == contract_id).order_by(events.c.id)
    return [_event(r) for r in (await session.execute(stmt)).all()]


# --- the deposit's parts ----------------------------------------------------------------------


async def get_installments(session: PrimarySession, contract_id: uuid.UUID) -> list[InstallmentRow]:
    stmt = (
        select(*INSTALLMENT_COLUMNS)
        .where(installments.c.contract_id == contract_id)
        .order_by(installments.c.installment)
    )
    return [InstallmentRow(**r._asdict()) for r in (await session.execute(stmt)).all()]


async def insert_installment(
    session: PrimarySession,
    contract_id: uuid.UUID,
    installment: int,
    amount_cents: int,
    payment_id: uuid.UUID,
) -> InstallmentRow | None:
    """The part recorded as paid, or None when it (or this payment) was recorded already."""
    stmt = (
        pg_insert(installments)
        .values(
            contract_id=contract_id,
            installment=installment,
            amount_cents=amount_cents,
            payment_id=payment_id,
        )
        .on_conflict_do_nothing()
        .returning(*INSTALLMENT_COLUMNS)
    )
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else InstallmentRow(**row._asdict())


async def mark_installment_refunded(
    session: PrimarySession, payment_id: uuid.UUID
) -> InstallmentRow | None:
    """The part paid by `payment_id`, now refunded; None if unknown or refunded already."""
    stmt = (
        update(installments)
        .where(installments.c.payment_id == payment_id, installments.c.refunded_at.is_(None))
        .values(refunded_at=func.clock_timestamp())
        .returning(*INSTALLMENT_COLUMNS)
    )
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else InstallmentRow(**row._asdict())


# --- personal data (privacy: export and deletion) ---------------------------------------------


async def export_contracts(session: PrimarySession, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """The user's contracts with their signatures and the user's own audit events. Where and
    with what a signature or event was made (IP, user agent) only for the user's own: the
    other party's are theirs."""
    contracts = text(
        """
        SELECT id, listing_id, viewing_id, landlord_id, tenant_id,
               CASE WHEN tenant_id = :uid THEN 'tenant' ELSE 'landlord' END AS role,
               status, start_date, end_date, cold_rent_cents, utilities_cents, deposit_cents,
               deposit_plan, deposit_status, document_sha256, created_at, updated_at, sent_at,
               fully_signed_at
        FROM contracts WHERE tenant_id = :uid OR landlord_id = :uid
        ORDER BY created_at, id
        """
    )
    signatures = text(
        """
        SELECT s.contract_id, s.party, s.signer_id, s.full_name, s.document_sha256, s.signed_at,
               CASE WHEN s.signer_id = :uid THEN s.ip END AS ip,
               CASE WHEN s.signer_id = :uid THEN s.user_agent END AS user_agent
        FROM contract_signatures s JOIN contracts c ON c.id = s.contract_id
        WHERE c.tenant_id = :uid OR c.landlord_id = :uid
        ORDER BY s.signed_at, s.party
        """
    )
    events = text(
        """
        SELECT e.contract_id, e.kind, e.ip, e.user_agent, e.created_at
        FROM contract_events e WHERE e.actor_id = :uid ORDER BY e.id
        """
    )
    params = {"uid": user_id}
    rows = [dict(r._mapping) for r in await session.execute(contracts, params)]
    by_id: dict[Any, dict[str, Any]] = {}
    for row in rows:
        row["signatures"], row["my_events"] = [], []
        by_id[row["id"]] = row
    for sig in await session.execute(signatures, params):
        by_id[sig.contract_id]["signatures"].append(dict(sig._mapping))
    for event in await session.execute(events, params):
        if event.contract_id in by_id:
            by_id[event.contract_id]["my_events"].append(dict(event._mapping))
    return rows


async def open_obligations_of(session: PrimarySession, user_id: uuid.UUID) -> int:
    """Contracts that bind the user and are not settled: sent for signature but not signed by
    both, or signed with a deposit the user (as tenant) has not paid in full."""
    stmt = text(
        """
        SELECT count(*) FROM contracts
        WHERE (tenant_id = :uid OR landlord_id = :uid)
          AND (status IN ('sent', 'partially_signed')
               OR (status = 'fully_signed' AND tenant_id = :uid
                   AND deposit_status IN ('unpaid', 'partially_paid')))
        """
    )
    return int((await session.execute(stmt, {"uid": user_id})).scalar_one())
