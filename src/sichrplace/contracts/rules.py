"""Contract rules as pure functions (no I/O): the terms (dates, deposit cap), who is a party
and what each may do, the status machine of sending and signing, and the deposit's parts
(§551 BGB).

Who chooses the deposit plan: the tenant. §551 Abs. 2 BGB entitles the tenant to pay in three
monthly parts, and an agreement to the tenant's detriment is void (Abs. 4), so the landlord's
`deposit_plan` when drafting is only a proposal. The tenant may change it
(`PUT /contracts/{id}/deposit-plan`) until starting the first deposit payment; that payment
fixes it (a payment of one amount must not be followed by parts of another plan). The
document states the right and both ways of paying, so the choice does not change what was
signed.
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Collection
from datetime import date

from sichrplace.contracts.errors import (
    AlreadySigned,
    ContractNotFound,
    DepositNotDue,
    DepositPlanFixed,
    DocumentHashMismatch,
    IllegalContractTransition,
    NotContractLandlord,
    NotContractTenant,
    TenantNotFound,
    ViewingNotConfirmed,
    ViewingNotFound,
)
from sichrplace.contracts.records import ContractRow, ListingRef, PersonRow, ViewingRef
from sichrplace.contracts.vocabulary import (
    CONTRACTABLE_VIEWING_STATUSES,
    INSTALLMENTS,
    SIGNABLE,
    ContractStatus,
    DepositPlan,
    DepositStatus,
    Party,
)
from sichrplace.kit.errors import Unprocessable
from sichrplace.kit.i18n import N_
from sichrplace.listings.errors import ListingNotFound, NotListingOwner, deposit_too_high
from sichrplace.listings.rules import Caller, max_deposit_cents, may_see

# --- the terms --------------------------------------------------------------------------------


def check_terms(
    *, start_date: date, end_date: date | None, cold_rent_cents: int, deposit_cents: int
) -> None:
    """422 naming the field: an end not after the start; a deposit over three cold rents
    (§551 Abs. 1 BGB, the listings' cap)."""
    if end_date is not None and end_date <= start_date:
        raise Unprocessable.field("end_date", N_("must be after start_date"))
    if deposit_cents > max_deposit_cents(cold_rent_cents):
        raise deposit_too_high(deposit_cents, cold_rent_cents)


def check_source(
    viewing_id: uuid.UUID | None, listing_id: uuid.UUID | None, tenant_id: uuid.UUID | None
) -> None:
    """A contract comes from a viewing, or from a listing and a tenant: exactly one of the two."""
    if viewing_id is not None:
        extra = "listing_id" if listing_id is not None else "tenant_id"
        if listing_id is not None or tenant_id is not None:
            raise Unprocessable.field(
                extra, N_("send either viewing_id, or listing_id and tenant_id")
            )
        return
    if listing_id is None:
        raise Unprocessable.field("listing_id", N_("required without viewing_id"))
    if tenant_id is None:
        raise Unprocessable.field("tenant_id", N_("required without viewing_id"))


def check_viewing(viewing: ViewingRef | None, landlord: Caller) -> ViewingRef:
    """The viewing a contract is drafted from: the landlord's own (else not found), and
    confirmed or completed (else 409)."""
    if viewing is None or viewing.landlord_id != landlord.id:
        raise ViewingNotFound()
    if viewing.status not in CONTRACTABLE_VIEWING_STATUSES:
        raise ViewingNotConfirmed(viewing.status)
    return viewing


# --- who may do what --------------------------------------------------------------------------


def party_of(contract: ContractRow, caller: Caller) -> Party | None:
    if caller.id == contract.landlord_id:
        return Party.LANDLORD
    if caller.id == contract.tenant_id:
        return Party.TENANT
    return None


def visible_party(contract: ContractRow | None, caller: Caller) -> Party:
    """The caller's side of the contract; anyone else (admins too) is told it does not exist."""
    party = None if contract is None else party_of(contract, caller)
    if party is None:
        raise ContractNotFound()
    return party


def check_may_send(contract: ContractRow, party: Party) -> None:
    if party != Party.LANDLORD:
        raise NotContractLandlord()
    if contract.status != ContractStatus.DRAFT:
        raise IllegalContractTransition(contract.status, "sent")


def check_may_sign(
    contract: ContractRow, party: Party, document_sha256: str, signed: Collection[Party]
) -> None:
    """409 unless the contract awaits this party's signature over exactly the frozen document."""
    if party in signed:
        raise AlreadySigned(party)
    if contract.status not in SIGNABLE:
        raise IllegalContractTransition(contract.status, "signed")
    if contract.document_sha256 is None or document_sha256.lower() != contract.document_sha256:
        raise DocumentHashMismatch()


def status_after_signature(signed: Collection[Party]) -> ContractStatus:
    """`signed`: every party that has signed, including the one signing now."""
    if set(signed) >= set(Party):
        return ContractStatus.FULLY_SIGNED
    return ContractStatus.PARTIALLY_SIGNED


def check_may_choose_plan(contract: ContractRow, party: Party) -> None:
    if party != Party.TENANT:
        raise NotContractTenant()
    if contract.deposit_plan_fixed_at is not None:
        raise DepositPlanFixed()


# --- the deposit ------------------------------------------------------------------------------


def deposit_parts(deposit_cents: int, plan: DepositPlan) -> list[int]:
    """The amounts of the deposit's parts, in cents, summing exactly to the deposit: three
    parts differ by at most one cent, the earlier ones carrying the remainder."""
    count = INSTALLMENTS[plan]
    base, remainder = divmod(deposit_cents, count)
    return [base + (1 if i < remainder else 0) for i in range(count)]


def add_months(day: date, months: int) -> date:
    """The same day `months` later (the month's last day where it is shorter)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def installment_due_dates(start_date: date, plan: DepositPlan) -> list[date]:
    """§551 Abs. 2 BGB: the first part at the start of the tenancy, the others with the next
    two monthly rents. (Paying earlier is always allowed: the first part is owed as soon as
    the contract is fully signed.)"""
    return [add_months(start_date, i) for i in range(INSTALLMENTS[plan])]


def owed_parts(deposit_cents: int, plan: DepositPlan) -> list[tuple[int, int]]:
    """(installment number, amount) of each part that is owed at all (a part of 0 cents,
    possible only for a deposit under 3 cents in three parts, is not)."""
    parts = deposit_parts(deposit_cents, plan)
    return [(number, amount) for number, amount in enumerate(parts, start=1) if amount > 0]


def next_installment(contract: ContractRow, paid: Collection[int]) -> tuple[int, int]:
    """(installment number, amount in cents) owed now by the tenant; 409 when nothing is."""
    if contract.status != ContractStatus.FULLY_SIGNED:
        raise DepositNotDue(N_("the contract is not signed by both parties"))
    if contract.deposit_status == DepositStatus.REFUNDED:
        raise DepositNotDue(N_("the deposit was refunded"))
    owed = owed_parts(contract.deposit_cents, contract.deposit_plan)
    if not owed:
        raise DepositNotDue(N_("the contract has no deposit"))
    for number, amount in owed:
        if number not in paid:
            return number, amount
    raise DepositNotDue(N_("the deposit is paid"))


def deposit_status_after(
    deposit_cents: int, plan: DepositPlan, paid: Collection[int]
) -> DepositStatus:
    if not paid:
        return DepositStatus.UNPAID
    owed = {number for number, _ in owed_parts(deposit_cents, plan)}
    return DepositStatus.PAID if owed <= set(paid) else DepositStatus.PARTIALLY_PAID


def check_distinct_parties(landlord_id: uuid.UUID, tenant_id: uuid.UUID) -> None:
    if landlord_id == tenant_id:
        raise Unprocessable.field("tenant_id", N_("the tenant cannot be the landlord"))


def check_listing(listing: ListingRef | None, landlord: Caller) -> ListingRef:
    """The listing a contract is for: visible (else not found) and the landlord's (else 403)."""
    if listing is None or not may_see(landlord, owner_id=listing.owner_id, status=listing.status):
        raise ListingNotFound()
    if listing.owner_id != landlord.id:
        raise NotListingOwner()
    return listing


def check_tenant(person: PersonRow | None, landlord: Caller) -> PersonRow:
    if person is None:
        raise TenantNotFound()
    if person.role != "tenant":
        raise Unprocessable.field("tenant_id", N_("is not a tenant's account"))
    check_distinct_parties(landlord.id, person.id)
    return person
