"""Contract use cases: draft, send (freeze the PDF), sign, choose the deposit plan, read (the
contract, its document, its audit trail), and the deposit's charge for payments. The decisions
are the pure rules of `contracts.rules`.

Services never commit: the request boundary does (or, for the deposit, the payment webhook's
unit of work); emails are queued in the transaction and counters counted after commit.
Reads go to the primary: a party reading a contract the other just sent or signed must see
it, and contracts are far from the hot paths.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from sichrplace.contracts import document, emails, repository, rules
from sichrplace.contracts.errors import AlreadySigned, NotContractTenant
from sichrplace.contracts.records import (
    Client,
    ContractRow,
    EventRow,
    InstallmentRow,
    Parties,
    SignatureRow,
)
from sichrplace.contracts.schemas import ContractCreate, SignIn
from sichrplace.contracts.vocabulary import (
    ContractStatus,
    DepositPlan,
    DepositStatus,
    EventKind,
    Party,
)
from sichrplace.kit.clock import utcnow
from sichrplace.kit.errors import ProblemError
from sichrplace.kit.i18n import language_of
from sichrplace.listings.rules import Caller
from sichrplace.notifications.service import queue_email
from sichrplace.platform import analytics
from sichrplace.platform.db.durability import require_synchronous_commit
from sichrplace.platform.db.sessions import PrimarySession
from sichrplace.platform.observability import business, tracing

__all__ = ["Caller", "Client"]


# --- shaping ----------------------------------------------------------------------------------


def _installments(contract: ContractRow, paid: list[InstallmentRow]) -> list[dict[str, Any]]:
    by_number = {row.installment: row for row in paid}
    dues = rules.installment_due_dates(contract.start_date, contract.deposit_plan)
    out = []
    for number, amount in rules.owed_parts(contract.deposit_cents, contract.deposit_plan):
        row = by_number.get(number)
        out.append(
            {
                "installment": number,
                "amount_cents": amount,
                "due_date": dues[number - 1],
                "paid_at": None if row is None else row.paid_at,
                "refunded_at": None if row is None else row.refunded_at,
            }
        )
    return out


def _shaped(
    contract: ContractRow, signatures: list[SignatureRow], paid: list[InstallmentRow]
) -> dict[str, Any]:
    return {
        "id": contract.id,
        "status": contract.status,
        "listing_id": contract.listing_id,
        "viewing_id": contract.viewing_id,
        "landlord_id": contract.landlord_id,
        "tenant_id": contract.tenant_id,
        "start_date": contract.start_date,
        "end_date": contract.end_date,
        "cold_rent_cents": contract.cold_rent_cents,
        "utilities_cents": contract.utilities_cents,
        "warm_rent_cents": contract.warm_rent_cents,
        "deposit_cents": contract.deposit_cents,
        "deposit_plan": contract.deposit_plan,
        "deposit_plan_fixed": contract.deposit_plan_fixed_at is not None,
        "deposit_status": contract.deposit_status,
        "deposit_installments": _installments(contract, paid),
        "document_sha256": contract.document_sha256,
        "signatures": [
            {"party": s.party, "full_name": s.full_name, "signed_at": s.signed_at}
            for s in signatures
        ],
        "created_at": contract.created_at,
        "sent_at": contract.sent_at,
        "fully_signed_at": contract.fully_signed_at,
    }


async def _out(session: PrimarySession, contract: ContractRow) -> dict[str, Any]:
    signatures = await repository.get_signatures(session, contract.id)
    paid = await repository.get_installments(session, contract.id)
    return _shaped(contract, signatures, paid)


async def _visible(
    session: PrimarySession, caller: Caller, contract_id: uuid.UUID, *, lock: bool = False
) -> tuple[ContractRow, Party]:
    """The contract and the caller's side of it; not found for anyone but its parties."""
    read = repository.lock_contract if lock else repository.get_contract
    contract = await read(session, contract_id)
    party = rules.visible_party(contract, caller)
    assert contract is not None  # visible_party raised otherwise
    return contract, party


async def _parties(session: PrimarySession, contract: ContractRow) -> Parties:
    landlord = await repository.get_person(session, contract.landlord_id)
    tenant = await repository.get_person(session, contract.tenant_id)
    listing = await repository.get_listing(session, contract.listing_id)
    # Foreign keys keep all three (contracts are never deleted, users only anonymised).
    assert landlord is not None
    assert tenant is not None
    assert listing is not None
    return Parties(landlord=landlord, tenant=tenant, listing=listing)


def _address(parties: Parties) -> str:
    flat = parties.listing
    return f"{flat.street} {flat.house_number}, {flat.postal_code} {flat.city}"


# --- drafting and reading ---------------------------------------------------------------------


async def create_contract(
    session: PrimarySession, caller: Caller, data: ContractCreate, client: Client
) -> dict[str, Any]:
    """A draft between the caller (the landlord) and the tenant of the viewing, or the given
    tenant for the given listing. Every check runs before the first write."""
    rules.check_source(data.viewing_id, data.listing_id, data.tenant_id)
    rules.check_terms(
        start_date=data.start_date,
        end_date=data.end_date,
        cold_rent_cents=data.cold_rent_cents,
        deposit_cents=data.deposit_cents,
    )
    if data.viewing_id is not None:
        viewing = await repository.get_viewing(session, data.viewing_id)
        viewing = rules.check_viewing(viewing, caller)
        listing_id, tenant_id = viewing.listing_id, viewing.tenant_id
    else:
        assert data.listing_id is not None  # check_source
        assert data.tenant_id is not None
        listing_id, tenant_id = data.listing_id, data.tenant_id
    rules.check_listing(await repository.get_listing(session, listing_id), caller)
    rules.check_tenant(await repository.get_person(session, tenant_id), caller)
    row = await repository.insert_contract(
        session,
        {
            "id": uuid.uuid4(),
            "listing_id": listing_id,
            "viewing_id": data.viewing_id,
            "landlord_id": caller.id,
            "tenant_id": tenant_id,
            "status": ContractStatus.DRAFT.value,
            "start_date": data.start_date,
            "end_date": data.end_date,
            "cold_rent_cents": data.cold_rent_cents,
            "utilities_cents": data.utilities_cents,
            "deposit_cents": data.deposit_cents,
            "deposit_plan": data.deposit_plan.value,
            "deposit_status": DepositStatus.UNPAID.value,
        },
    )
    await repository.add_event(
        session,
        row.id,
        EventKind.CREATED,
        actor_id=caller.id,
        ip=client.ip,
        user_agent=client.user_agent,
        detail={
            "viewing_id": None if row.viewing_id is None else str(row.viewing_id),
            "deposit_cents": row.deposit_cents,
            "deposit_plan": row.deposit_plan.value,
        },
    )
    return _shaped(row, [], [])


async def get_contract(
    session: PrimarySession, caller: Caller, contract_id: uuid.UUID
) -> dict[str, Any]:
    contract, _ = await _visible(session, caller, contract_id)
    return await _out(session, contract)


async def list_contracts(
    session: PrimarySession, caller: Caller, party: Party, limit: int
) -> list[dict[str, Any]]:
    """The caller's contracts on one side (newest first)."""
    rows = await repository.list_contracts(session, caller.id, party, limit)
    return [await _out(session, row) for row in rows]


@dataclass(frozen=True, slots=True)
class Document:
    pdf: bytes
    sha256: str
    frozen: bool  # the sent document (else a draft's preview, which may still change)


async def get_document(
    session: PrimarySession, caller: Caller, contract_id: uuid.UUID, client: Client
) -> Document:
    """The frozen PDF once sent (each download by a party is recorded in the audit trail),
    a preview rendered from the current terms while a draft."""
    contract, _ = await _visible(session, caller, contract_id)
    if contract.status == ContractStatus.DRAFT:
        preview = await asyncio.to_thread(
            document.render, contract, await _parties(session, contract)
        )
        return Document(preview, hashlib.sha256(preview).hexdigest(), frozen=False)
    pdf = await repository.get_document(session, contract_id)
    assert pdf is not None  # stored with `sent`
    assert contract.document_sha256 is not None
    await repository.add_event(
        session,
        contract_id,
        EventKind.DOCUMENT_VIEWED,
        actor_id=caller.id,
        ip=client.ip,
        user_agent=client.user_agent,
    )
    return Document(pdf, contract.document_sha256, frozen=True)


async def audit_trail(
    session: PrimarySession, caller: Caller, contract_id: uuid.UUID
) -> dict[str, Any]:
    contract, _ = await _visible(session, caller, contract_id)
    events = await repository.get_events(session, contract_id)
    return {"contract_id": contract_id, "events": [_audit(contract, e) for e in events]}


def _audit(contract: ContractRow, event: EventRow) -> dict[str, Any]:
    actor_party = None
    if event.actor_id is not None:
        actor_party = {contract.landlord_id: Party.LANDLORD, contract.tenant_id: Party.TENANT}.get(
            event.actor_id
        )
    return {
        "id": event.id,
        "kind": event.kind,
        "actor_id": event.actor_id,
        "actor_party": actor_party,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "detail": event.detail,
        "at": event.created_at,
    }


# --- sending and signing ----------------------------------------------------------------------


async def send_contract(
    session: PrimarySession, caller: Caller, contract_id: uuid.UUID, client: Client
) -> dict[str, Any]:
    """draft → sent: the PDF is rendered once, stored and its SHA-256 recorded; from now on
    the terms cannot change (the database refuses it) and signatures name this hash."""
    with tracing.span("contract.send"):
        tracing.set_attributes(**{"contract.id": str(contract_id)})
        contract, party = await _visible(session, caller, contract_id, lock=True)
        rules.check_may_send(contract, party)
        parties = await _parties(session, contract)
        pdf = await asyncio.to_thread(document.render, contract, parties)
        sha256 = hashlib.sha256(pdf).hexdigest()
        await require_synchronous_commit(session)  # the frozen document survives failover
        await repository.insert_document(session, contract_id, pdf, sha256)
        row = await repository.update_contract(
            session,
            contract_id,
            {"status": ContractStatus.SENT.value, "document_sha256": sha256, "sent_at": utcnow()},
        )
        await repository.add_event(
            session,
            contract_id,
            EventKind.SENT,
            actor_id=caller.id,
            ip=client.ip,
            user_agent=client.user_agent,
            detail={"document_sha256": sha256, "document_bytes": len(pdf)},
        )
        letter = emails.sent(
            language_of(parties.tenant.language),
            tenant_name=parties.tenant.full_name,
            landlord_name=parties.landlord.full_name,
            address=_address(parties),
            contract_id=contract_id,
            document_sha256=sha256,
        )
        await queue_email(
            session,
            to=parties.tenant.email,
            subject=letter.subject,
            body=letter.body,
            language=letter.language,
            dedupe_key=f"contracts:sent:{contract_id}",
        )
        return await _out(session, row)


async def sign_contract(
    session: PrimarySession, caller: Caller, contract_id: uuid.UUID, data: SignIn, client: Client
) -> dict[str, Any]:
    """One party's signature over the frozen document's hash: sent → partially_signed →
    fully_signed. The contract's row lock orders signatures; the (contract, party) primary
    key refuses a second one of a party whatever happens."""
    with tracing.span("contract.sign"):
        contract, party = await _visible(session, caller, contract_id, lock=True)
        # Set on the started span: the sampler keeps no attributes given at its start.
        tracing.set_attributes(**{"contract.id": str(contract_id), "contract.party": party.value})
        signed = {s.party for s in await repository.get_signatures(session, contract_id)}
        rules.check_may_sign(contract, party, data.document_sha256, signed)
        await require_synchronous_commit(session)  # an acknowledged signature survives failover
        signature = await repository.insert_signature(
            session,
            {
                "contract_id": contract_id,
                "party": party.value,
                "signer_id": caller.id,
                "full_name": data.full_name.strip(),
                "document_sha256": data.document_sha256.lower(),
                "ip": client.ip,
                "user_agent": client.user_agent,
            },
        )
        if signature is None:
            raise AlreadySigned(party)
        await repository.add_event(
            session,
            contract_id,
            EventKind.SIGNED,
            actor_id=caller.id,
            ip=client.ip,
            user_agent=client.user_agent,
            detail={
                "party": party.value,
                "full_name": signature.full_name,
                "document_sha256": signature.document_sha256,
            },
        )
        status = rules.status_after_signature(signed | {party})
        values: dict[str, object] = {"status": status.value}
        if status == ContractStatus.FULLY_SIGNED:
            values["fully_signed_at"] = utcnow()
        row = await repository.update_contract(session, contract_id, values)
        if status == ContractStatus.FULLY_SIGNED:
            await _fully_signed(session, row, caller, client)
        return await _out(session, row)


async def _fully_signed(
    session: PrimarySession, contract: ContractRow, caller: Caller, client: Client
) -> None:
    await repository.add_event(
        session,
        contract.id,
        EventKind.FULLY_SIGNED,
        actor_id=caller.id,
        ip=client.ip,
        user_agent=client.user_agent,
        detail={"document_sha256": contract.document_sha256},
    )
    business.contract_signed(session, parties=(contract.tenant_id,))
    analytics.journey(
        session,
        "contract_signed",
        listing_id=contract.listing_id,
        subject_id=contract.id,
        parties=(contract.tenant_id,),
    )
    parties = await _parties(session, contract)
    assert contract.document_sha256 is not None
    for person in (parties.tenant, parties.landlord):
        letter = emails.fully_signed(
            language_of(person.language),
            name=person.full_name,
            address=_address(parties),
            contract_id=contract.id,
            document_sha256=contract.document_sha256,
        )
        await queue_email(
            session,
            to=person.email,
            subject=letter.subject,
            body=letter.body,
            language=letter.language,
            dedupe_key=f"contracts:fully-signed:{contract.id}:{person.id}",
        )


async def choose_deposit_plan(
    session: PrimarySession,
    caller: Caller,
    contract_id: uuid.UUID,
    plan: DepositPlan,
    client: Client,
) -> dict[str, Any]:
    """The tenant's choice (§551 Abs. 2 BGB), open until the first deposit payment starts."""
    contract, party = await _visible(session, caller, contract_id, lock=True)
    rules.check_may_choose_plan(contract, party)
    row = await repository.update_contract(session, contract_id, {"deposit_plan": plan.value})
    await repository.add_event(
        session,
        contract_id,
        EventKind.DEPOSIT_PLAN_CHOSEN,
        actor_id=caller.id,
        ip=client.ip,
        user_agent=client.user_agent,
        detail={"deposit_plan": plan.value},
    )
    return await _out(session, row)


# --- the deposit (called by payments through contracts.charges) --------------------------------


@dataclass(frozen=True, slots=True)
class DepositDue:
    contract: ContractRow
    installment: int
    amount_cents: int
    description: str


async def deposit_due(session: PrimarySession, contract_id: uuid.UUID, payer: Caller) -> DepositDue:
    """The deposit part `payer` (the tenant) owes now; starting to pay it fixes the plan."""
    contract, party = await _visible(session, payer, contract_id, lock=True)
    if party != Party.TENANT:
        raise NotContractTenant()
    paid = await repository.get_installments(session, contract_id)
    number, amount = rules.next_installment(contract, {row.installment for row in paid})
    if contract.deposit_plan_fixed_at is None:
        contract = await repository.update_contract(
            session, contract_id, {"deposit_plan_fixed_at": utcnow()}
        )
    await repository.add_event(
        session,
        contract_id,
        EventKind.DEPOSIT_PAYMENT_STARTED,
        actor_id=payer.id,
        detail={
            "installment": number,
            "amount_cents": amount,
            "deposit_plan": contract.deposit_plan.value,
        },
    )
    parties = await _parties(session, contract)
    count = len(rules.owed_parts(contract.deposit_cents, contract.deposit_plan))
    part = "" if count == 1 else f" (Teil {number} von {count})"
    return DepositDue(contract, number, amount, f"Mietkaution{part}: {_address(parties)}")


async def deposit_paid(
    session: PrimarySession, contract_id: uuid.UUID, payment_id: uuid.UUID
) -> bool:
    """Record the next part as paid by `payment_id` (once: a repeat is a no-op). False when
    nothing was owed any more (payments then refunds the payment)."""
    contract = await repository.lock_contract(session, contract_id)
    if contract is None:
        return False
    paid = await repository.get_installments(session, contract_id)
    if any(row.payment_id == payment_id for row in paid):
        return True
    try:
        number, amount = rules.next_installment(contract, {row.installment for row in paid})
    except ProblemError:
        return False
    row = await repository.insert_installment(session, contract_id, number, amount, payment_id)
    if row is None:
        return False
    numbers = {r.installment for r in paid} | {number}
    status = rules.deposit_status_after(contract.deposit_cents, contract.deposit_plan, numbers)
    await repository.update_contract(session, contract_id, {"deposit_status": status.value})
    analytics.journey(
        session,
        "deposit_paid",
        listing_id=contract.listing_id,
        subject_id=contract_id,
        parties=(contract.tenant_id,),
    )
    await repository.add_event(
        session,
        contract_id,
        EventKind.DEPOSIT_PAID,
        actor_id=None,
        detail={
            "installment": number,
            "amount_cents": amount,
            "payment_id": str(payment_id),
            "deposit_status": status.value,
        },
    )
    return True


async def deposit_refunded(
    session: PrimarySession, contract_id: uuid.UUID, payment_id: uuid.UUID
) -> None:
    """Record the refund of the part `payment_id` paid (once); the deposit is refunded when
    every part paid is."""
    contract = await repository.lock_contract(session, contract_id)
    if contract is None:
        return
    row = await repository.mark_installment_refunded(session, payment_id)
    if row is None or row.contract_id != contract_id:
        return
    paid = await repository.get_installments(session, contract_id)
    if all(r.refunded_at is not None for r in paid):
        await repository.update_contract(
            session, contract_id, {"deposit_status": DepositStatus.REFUNDED.value}
        )
    await repository.add_event(
        session,
        contract_id,
        EventKind.DEPOSIT_REFUNDED,
        actor_id=None,
        detail={
            "installment": row.installment,
            "amount_cents": row.amount_cents,
            "payment_id": str(payment_id),
        },
    )
