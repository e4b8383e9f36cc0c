"""Contract rules: terms, parties, the signing state machine and the deposit's parts."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest

from sichrplace.contracts import emails, rules
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
from sichrplace.contracts.records import PersonRow, ViewingRef
from sichrplace.contracts.vocabulary import ContractStatus, DepositPlan, DepositStatus, Party
from sichrplace.kit.errors import Unprocessable
from sichrplace.listings.errors import ListingNotFound, NotListingOwner
from tests.unit.contracts.rows import ADMIN, LANDLORD, SHA, STRANGER, TENANT, contract, parties


def _field(exc: pytest.ExceptionInfo[Unprocessable]) -> set[str]:
    return {e["field"] for e in exc.value.errors}


# --- terms ------------------------------------------------------------------------------------


def test_deposit_of_three_cold_rents_is_allowed() -> None:
    rules.check_terms(
        start_date=date(2027, 1, 1), end_date=None, cold_rent_cents=80_000, deposit_cents=240_000
    )


def test_deposit_over_three_cold_rents_names_deposit_cents() -> None:
    with pytest.raises(Unprocessable) as exc:
        rules.check_terms(
            start_date=date(2027, 1, 1),
            end_date=None,
            cold_rent_cents=80_000,
            deposit_cents=240_001,
        )
    assert _field(exc) == {"deposit_cents"}
    assert exc.value.slug == "deposit-cap-exceeded"


@pytest.mark.parametrize("end", [date(2026, 12, 31), date(2027, 1, 1)])
def test_end_not_after_start_names_end_date(end: date) -> None:
    with pytest.raises(Unprocessable) as exc:
        rules.check_terms(
            start_date=date(2027, 1, 1), end_date=end, cold_rent_cents=1, deposit_cents=0
        )
    assert _field(exc) == {"end_date"}


@pytest.mark.parametrize(
    ("viewing", "listing", "tenant", "field"),
    [
        (None, None, None, "listing_id"),
        (None, uuid.uuid4(), None, "tenant_id"),
        (uuid.uuid4(), uuid.uuid4(), None, "listing_id"),
        (uuid.uuid4(), None, uuid.uuid4(), "tenant_id"),
    ],
)
def test_source_is_a_viewing_or_a_listing_and_tenant(
    viewing: uuid.UUID | None, listing: uuid.UUID | None, tenant: uuid.UUID | None, field: str
) -> None:
    with pytest.raises(Unprocessable) as exc:
        rules.check_source(viewing, listing, tenant)
    assert _field(exc) == {field}


def test_source_accepted() -> None:
    rules.check_source(uuid.uuid4(), None, None)
    rules.check_source(None, uuid.uuid4(), uuid.uuid4())


def _viewing(status: str, landlord: uuid.UUID = LANDLORD.id) -> ViewingRef:
    return ViewingRef(uuid.uuid4(), uuid.uuid4(), TENANT.id, landlord, status)


@pytest.mark.parametrize("status", ["confirmed", "completed"])
def test_confirmed_or_completed_viewing(status: str) -> None:
    assert rules.check_viewing(_viewing(status), LANDLORD).status == status


@pytest.mark.parametrize("status", ["pending_payment", "cancelled", "expired"])
def test_other_viewing_states_conflict(status: str) -> None:
    with pytest.raises(ViewingNotConfirmed):
        rules.check_viewing(_viewing(status), LANDLORD)


def test_someone_elses_or_no_viewing_is_not_found() -> None:
    with pytest.raises(ViewingNotFound):
        rules.check_viewing(_viewing("confirmed", landlord=uuid.uuid4()), LANDLORD)
    with pytest.raises(ViewingNotFound):
        rules.check_viewing(None, LANDLORD)


def test_listing_must_be_the_landlords() -> None:
    listing = parties().listing
    assert rules.check_listing(listing, LANDLORD) is listing
    with pytest.raises(NotListingOwner):
        rules.check_listing(listing, STRANGER)
    with pytest.raises(ListingNotFound):
        rules.check_listing(None, LANDLORD)


def test_tenant_must_be_a_tenant_account() -> None:
    with pytest.raises(TenantNotFound):
        rules.check_tenant(None, LANDLORD)
    other_landlord = PersonRow(uuid.uuid4(), "L", "l@example.com", "landlord")
    with pytest.raises(Unprocessable) as exc:
        rules.check_tenant(other_landlord, LANDLORD)
    assert _field(exc) == {"tenant_id"}


# --- parties and the state machine ------------------------------------------------------------


def test_only_parties_see_a_contract() -> None:
    row = contract()
    assert rules.visible_party(row, LANDLORD) == Party.LANDLORD
    assert rules.visible_party(row, TENANT) == Party.TENANT
    for outsider in (STRANGER, ADMIN):
        with pytest.raises(ContractNotFound):
            rules.visible_party(row, outsider)
    with pytest.raises(ContractNotFound):
        rules.visible_party(None, LANDLORD)


def test_only_the_landlord_sends_a_draft() -> None:
    rules.check_may_send(contract(), Party.LANDLORD)
    with pytest.raises(NotContractLandlord):
        rules.check_may_send(contract(), Party.TENANT)
    with pytest.raises(IllegalContractTransition):
        rules.check_may_send(
            contract(status=ContractStatus.SENT, document_sha256=SHA), Party.LANDLORD
        )


def test_signing_needs_the_frozen_hash() -> None:
    sent = contract(status=ContractStatus.SENT, document_sha256=SHA)
    rules.check_may_sign(sent, Party.TENANT, SHA, set())
    rules.check_may_sign(sent, Party.TENANT, SHA.upper(), set())
    with pytest.raises(DocumentHashMismatch):
        rules.check_may_sign(sent, Party.TENANT, "cd" * 32, set())


def test_signing_twice_or_too_early_conflicts() -> None:
    sent = contract(status=ContractStatus.PARTIALLY_SIGNED, document_sha256=SHA)
    with pytest.raises(AlreadySigned):
        rules.check_may_sign(sent, Party.TENANT, SHA, {Party.TENANT})
    with pytest.raises(IllegalContractTransition):
        rules.check_may_sign(contract(), Party.TENANT, SHA, set())
    done = contract(status=ContractStatus.FULLY_SIGNED, document_sha256=SHA)
    with pytest.raises(AlreadySigned):
        rules.check_may_sign(done, Party.LANDLORD, SHA, {Party.TENANT, Party.LANDLORD})


def test_status_after_signatures() -> None:
    assert rules.status_after_signature({Party.TENANT}) == ContractStatus.PARTIALLY_SIGNED
    assert rules.status_after_signature({Party.LANDLORD}) == ContractStatus.PARTIALLY_SIGNED
    both = {Party.TENANT, Party.LANDLORD}
    assert rules.status_after_signature(both) == ContractStatus.FULLY_SIGNED


def test_only_the_tenant_chooses_the_plan_until_fixed() -> None:
    rules.check_may_choose_plan(contract(), Party.TENANT)
    with pytest.raises(NotContractTenant):
        rules.check_may_choose_plan(contract(), Party.LANDLORD)
    fixed = contract(deposit_plan_fixed_at=datetime(2027, 1, 1, tzinfo=UTC))
    with pytest.raises(DepositPlanFixed):
        rules.check_may_choose_plan(fixed, Party.TENANT)


# --- the deposit ------------------------------------------------------------------------------


@pytest.mark.parametrize("deposit", [0, 1, 2, 3, 100, 100_001, 285_000, 299_999])
def test_three_parts_sum_exactly_to_the_deposit(deposit: int) -> None:
    parts = rules.deposit_parts(deposit, DepositPlan.THREE_PARTS)
    assert len(parts) == 3
    assert sum(parts) == deposit
    assert max(parts) - min(parts) <= 1
    assert parts == sorted(parts, reverse=True)  # the first part carries the remainder
    assert rules.deposit_parts(deposit, DepositPlan.ONCE) == [deposit]


def test_add_months_keeps_the_day_or_the_months_last() -> None:
    assert rules.add_months(date(2027, 1, 15), 1) == date(2027, 2, 15)
    assert rules.add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert rules.add_months(date(2027, 11, 30), 2) == date(2028, 1, 30)
    assert rules.add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)


def test_due_dates_follow_the_rent() -> None:
    start = date(2027, 3, 1)
    assert rules.installment_due_dates(start, DepositPlan.ONCE) == [start]
    assert rules.installment_due_dates(start, DepositPlan.THREE_PARTS) == [
        date(2027, 3, 1),
        date(2027, 4, 1),
        date(2027, 5, 1),
    ]


def test_nothing_is_owed_before_both_signed() -> None:
    for status in (ContractStatus.DRAFT, ContractStatus.SENT, ContractStatus.PARTIALLY_SIGNED):
        with pytest.raises(DepositNotDue):
            rules.next_installment(contract(status=status, document_sha256=SHA), set())


def test_next_installment_walks_the_parts() -> None:
    signed = contract(
        status=ContractStatus.FULLY_SIGNED,
        document_sha256=SHA,
        deposit_cents=100_000,
        deposit_plan=DepositPlan.THREE_PARTS,
    )
    assert rules.next_installment(signed, set()) == (1, 33_334)
    assert rules.next_installment(signed, {1}) == (2, 33_333)
    assert rules.next_installment(signed, {1, 2}) == (3, 33_333)
    with pytest.raises(DepositNotDue):
        rules.next_installment(signed, {1, 2, 3})
    once = contract(status=ContractStatus.FULLY_SIGNED, document_sha256=SHA)
    assert rules.next_installment(once, set()) == (1, 285_000)
    with pytest.raises(DepositNotDue):
        rules.next_installment(once, {1})
    none = contract(status=ContractStatus.FULLY_SIGNED, document_sha256=SHA, deposit_cents=0)
    with pytest.raises(DepositNotDue):
        rules.next_installment(none, set())
    refunded = contract(
        status=ContractStatus.FULLY_SIGNED,
        document_sha256=SHA,
        deposit_status=DepositStatus.REFUNDED,
    )
    with pytest.raises(DepositNotDue):
        rules.next_installment(refunded, set())


def test_deposit_status_after_parts() -> None:
    plan = DepositPlan.THREE_PARTS
    assert rules.deposit_status_after(90_000, plan, set()) == DepositStatus.UNPAID
    assert rules.deposit_status_after(90_000, plan, {1}) == DepositStatus.PARTIALLY_PAID
    assert rules.deposit_status_after(90_000, plan, {1, 2, 3}) == DepositStatus.PAID
    assert rules.deposit_status_after(90_000, DepositPlan.ONCE, {1}) == DepositStatus.PAID


def test_emails_are_in_the_recipients_language() -> None:
    facts: dict[str, Any] = {
        "tenant_name": "Jürgen",
        "landlord_name": "Grete",
        "address": "Schönhauser Allee 12a, 10437 Berlin",
        "contract_id": uuid.uuid4(),
        "document_sha256": SHA,
    }
    german, english = emails.sent("de", **facts), emails.sent("en", **facts)
    assert german.subject == "Ihr Mietvertrag liegt zur Unterschrift bereit"
    assert german.body.startswith("Hallo Jürgen,\n\nGrete hat Ihnen den Mietvertrag")
    assert f"SHA-256 des Dokuments: {SHA}" in german.body
    assert "§ 551 Abs. 2 BGB" in german.body
    assert english.subject == "Your lease is ready to sign"
    assert english.body.startswith("Hello Jürgen,\n\nGrete has sent you the lease")
    assert f"Document SHA-256: {SHA}" in english.body
    signed = {"name": "Grete", "address": "x", "contract_id": uuid.uuid4(), "document_sha256": SHA}
    assert "von Mieter und Vermieter unterschrieben" in emails.fully_signed("de", **signed).body
    assert "signed by tenant and landlord" in emails.fully_signed("en", **signed).body
    assert "Hallo" not in emails.fully_signed("en", **signed).body
